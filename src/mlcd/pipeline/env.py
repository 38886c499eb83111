"""What a run executed on: Python, platform, installed distributions and accelerator stack."""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blake3 import blake3

LOCK_FORMAT = "mlcd-env-lock/1"  # first line of the hashed text: change it when the text changes
_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class Accelerator:
    """The GPU stack PyTorch was built against (CUDA and cuDNN are None on CPU builds)."""

    torch: str
    cuda: str | None
    cudnn: int | None


@dataclass(frozen=True)
class Environment:
    """The Python environment of a run.

    `lock_hash` identifies what can change a step's results: the Python version and
    implementation, the machine architecture, and every installed distribution with its version.
    It leaves out the full `platform` string on purpose: that carries the kernel version, and the
    same lock installed on a laptop and a CI runner must hash equal so that a cached step is reused.
    The accelerator is left out too: a CUDA build of torch already differs in its version
    (`2.13.0+cu121`).
    """

    python: str  # "3.11.7"
    implementation: str  # "CPython"
    platform: str  # platform.platform(): "Linux-6.1.0-x86_64-with-glibc2.36"
    machine: str  # "x86_64", "arm64"
    packages: dict[str, str]  # PEP 503 name -> version, sorted by name
    accelerator: Accelerator | None = None

    @property
    def lock_hash(self) -> str:
        lines = [
            LOCK_FORMAT,
            f"python {self.implementation} {self.python}",
            f"machine {self.machine}",
            *(f"{name}=={version}" for name, version in sorted(self.packages.items())),
        ]
        return "b3:" + blake3("\n".join(lines).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; `lock_hash` is included for queries, and recomputed on load."""
        acc = self.accelerator
        return {
            "python": self.python,
            "implementation": self.implementation,
            "platform": self.platform,
            "machine": self.machine,
            "packages": dict(sorted(self.packages.items())),
            "accelerator": None
            if acc is None
            else {"torch": acc.torch, "cuda": acc.cuda, "cudnn": acc.cudnn},
            "lock_hash": self.lock_hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        acc = data.get("accelerator")
        return cls(
            python=data["python"],
            implementation=data["implementation"],
            platform=data["platform"],
            machine=data["machine"],
            packages=dict(data["packages"]),
            accelerator=None
            if acc is None
            else Accelerator(acc["torch"], acc["cuda"], acc["cudnn"]),
        )


@dataclass(frozen=True)
class EnvDiff:
    """What differs from environment `a` to environment `b`; each change is (a's, b's)."""

    added: dict[str, str]
    removed: dict[str, str]
    changed: dict[str, tuple[str, str]]
    python: tuple[str, str] | None = None  # "CPython 3.11.7"
    platform: tuple[str, str] | None = None
    machine: tuple[str, str] | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.python
            or self.platform
            or self.machine
        )


def diff_environments(a: Environment, b: Environment) -> EnvDiff:
    pa, pb = a.packages, b.packages
    python_a = f"{a.implementation} {a.python}"
    python_b = f"{b.implementation} {b.python}"
    return EnvDiff(
        added={n: pb[n] for n in sorted(pb.keys() - pa.keys())},
        removed={n: pa[n] for n in sorted(pa.keys() - pb.keys())},
        changed={n: (pa[n], pb[n]) for n in sorted(pa.keys() & pb.keys()) if pa[n] != pb[n]},
        python=(python_a, python_b) if python_a != python_b else None,
        platform=(a.platform, b.platform) if a.platform != b.platform else None,
        machine=(a.machine, b.machine) if a.machine != b.machine else None,
    )


def normalize_name(name: str) -> str:
    """PEP 503: `Typing_Extensions` and `typing.extensions` are the same project."""
    return _SEPARATORS.sub("-", name).lower()


@functools.cache
def capture_environment() -> Environment:
    """The environment of this process, captured once: distributions do not change during a run."""
    import platform

    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        packages=installed_packages(),
        accelerator=_accelerator(),
    )


def capture_environment_cached(cache: Path) -> Environment:
    """capture_environment, remembered on disk while no package folder changes.

    Reading every distribution's metadata costs ~25 ms, a tenth of a no-op `mlcd run`.
    Installing, upgrading or removing a package changes its folder's mtime on `sys.path`,
    which changes the key. With torch imported the cuDNN version is live: no cache then.
    """
    from mlcd import jsoncache

    if "torch" in sys.modules:
        return capture_environment()
    cwd = os.getcwd()
    folders = [p for p in sys.path if p not in ("", cwd) and os.path.isdir(p)]
    stamp = [sys.executable, sys.version, *(f"{p}:{os.stat(p).st_mtime_ns}" for p in folders)]
    key = blake3("\n".join(stamp).encode()).hexdigest()
    cached = jsoncache.read(cache, key)
    if cached is not None:
        try:
            return Environment.from_dict(cached)
        except (KeyError, TypeError):
            pass
    env = capture_environment()
    jsoncache.write(cache, key, env.to_dict())
    return env


def installed_packages() -> dict[str, str]:
    """Every distribution importable from `sys.path`, by PEP 503 name, sorted.

    When a name is installed twice (a user site and a venv), the first on `sys.path` wins: it is
    the one that imports.
    """
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    for dist in distributions():
        # only Name and Version are needed: `dist.metadata` runs the email parser over the whole
        # file, long description included (130 ms for 350 distributions; these lines take 20)
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        name, version = _name_and_version(text)
        if name and version:
            found.setdefault(normalize_name(name), version)
    return dict(sorted(found.items()))


def _name_and_version(metadata: str) -> tuple[str | None, str | None]:
    name = version = None
    for line in metadata.splitlines():
        if not line:  # the headers end at the first blank line
            break
        if line[0] in " \t":  # a folded continuation (a License text can say "Name: ...")
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
    return name, version


def _accelerator() -> Accelerator | None:
    """torch's version and the CUDA/cuDNN it was built with, without importing torch.

    Importing torch takes seconds; its `version.py` states the torch and CUDA versions as literals.
    cuDNN's version needs the loaded library, so it is asked only when torch is already imported.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        cudnn = torch.backends.cudnn.version()
        return Accelerator(
            torch=str(torch.__version__),
            cuda=None if torch.version.cuda is None else str(torch.version.cuda),
            cudnn=None if cudnn is None else int(cudnn),
        )
    import importlib.util

    spec = importlib.util.find_spec("torch")  # finds the package without running it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        version_file = Path(folder) / "version.py"
        if version_file.is_file():
            values = _literals(version_file.read_text(encoding="utf-8"))
            if isinstance(values.get("__version__"), str):
                cuda = values.get("cuda")
                return Accelerator(
                    torch=values["__version__"],
                    cuda=cuda if isinstance(cuda, str) else None,
                    cudnn=None,
                )
    return None


def _literals(source: str) -> dict[str, Any]:
    """Module-level `name = <constant>` assignments of a Python source, read without running it."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            values[target.id] = value.value
    return values
