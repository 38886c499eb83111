"""Environment capture: the lock hash, distributions by PEP 503 name, torch without import, diff."""

from __future__ import annotations

import json
import re
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from importlib.metadata import distributions
from pathlib import Path

import pytest

import mlcd
from mlcd.pipeline.env import (
    Accelerator,
    Environment,
    capture_environment,
    diff_environments,
    normalize_name,
)


@pytest.fixture(autouse=True)
def fresh_capture() -> Iterator[None]:
    capture_environment.cache_clear()
    yield
    capture_environment.cache_clear()  # no test leaves a capture made under its monkeypatches


def env(**packages: str) -> Environment:
    return Environment(
        python="3.11.7",
        implementation="CPython",
        platform="Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
        machine="x86_64",
        packages=packages or {"numpy": "2.1.0", "pandas": "2.2.3"},
    )


def test_capture_describes_this_interpreter() -> None:
    captured = capture_environment()
    assert captured.python == ".".join(map(str, sys.version_info[:3]))
    assert captured.implementation == sys.implementation.name.replace("cpython", "CPython")
    assert captured.packages["mlcd"] == mlcd.__version__
    assert list(captured.packages) == sorted(captured.packages)
    assert re.fullmatch(r"b3:[0-9a-f]{64}", captured.lock_hash)


def test_capture_is_cached_and_its_lock_is_stable() -> None:
    first = capture_environment()
    assert capture_environment() is first
    capture_environment.cache_clear()
    second = capture_environment()
    assert second is not first
    assert second.lock_hash == first.lock_hash


def test_capture_is_fast() -> None:
    # the budget is 100 ms; 1 s catches a regression (torch imported, full metadata parsed)
    # without failing on a loaded CI machine
    start = time.perf_counter()
    capture_environment()
    assert time.perf_counter() - start < 1.0


def test_packages_agree_with_importlib_metadata() -> None:
    # the header reader must find what importlib.metadata's full parser finds
    expected: dict[str, str] = {}
    for dist in distributions():
        expected.setdefault(normalize_name(dist.metadata["Name"]), dist.version)
    assert capture_environment().packages == dict(sorted(expected.items()))


def test_names_are_pep503_normalised() -> None:
    assert normalize_name("Typing_Extensions") == "typing-extensions"
    assert normalize_name("zope.interface") == "zope-interface"
    assert normalize_name("A__b-.C") == "a-b-c"
    packages = capture_environment().packages
    assert "typing-extensions" in packages  # installed as typing_extensions
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in packages)


def test_first_distribution_on_sys_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder, version in (("first", "1.0"), ("second", "2.0")):
        info = tmp_path / folder / f"shadow_pkg-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: Shadow_Pkg\nVersion: {version}\n\nName: not-a-header\n"
        )
    monkeypatch.setattr(sys, "path", [str(tmp_path / "first"), *sys.path, str(tmp_path / "second")])
    packages = capture_environment().packages
    assert packages["shadow-pkg"] == "1.0"
    assert "not-a-header" not in packages


def test_lock_ignores_kernel_and_order_but_not_versions() -> None:
    base = env(numpy="2.1.0", pandas="2.2.3")
    assert replace(base, platform="Linux-6.8.0-x86_64-with-glibc2.39").lock_hash == base.lock_hash
    assert env(pandas="2.2.3", numpy="2.1.0").lock_hash == base.lock_hash
    assert env(numpy="2.1.1", pandas="2.2.3").lock_hash != base.lock_hash
    assert env(numpy="2.1.0").lock_hash != base.lock_hash
    assert replace(base, python="3.11.8").lock_hash != base.lock_hash
    assert replace(base, implementation="PyPy").lock_hash != base.lock_hash
    assert replace(base, machine="aarch64").lock_hash != base.lock_hash


def test_dict_round_trip_through_json() -> None:
    original = replace(
        env(), accelerator=Accelerator(torch="2.13.0+cu121", cuda="12.1", cudnn=90100)
    )
    data = json.loads(json.dumps(original.to_dict()))
    assert data["lock_hash"] == original.lock_hash
    assert Environment.from_dict(data) == original
    captured = capture_environment()
    assert Environment.from_dict(json.loads(json.dumps(captured.to_dict()))) == captured


def test_diff_lists_added_removed_and_changed_packages() -> None:
    a = env(numpy="2.1.0", pandas="2.2.3", scipy="1.14.0")
    b = env(numpy="2.1.0", pandas="2.3.0", torch="2.13.0")
    diff = diff_environments(a, b)
    assert diff.added == {"torch": "2.13.0"}
    assert diff.removed == {"scipy": "1.14.0"}
    assert diff.changed == {"pandas": ("2.2.3", "2.3.0")}
    assert diff.python is None and diff.platform is None and diff.machine is None
    assert not diff.empty


def test_diff_reports_python_platform_and_machine() -> None:
    a = env()
    b = replace(a, python="3.12.1", platform="macOS-14.2-arm64-arm-64bit", machine="arm64")
    diff = diff_environments(a, b)
    assert diff.python == ("CPython 3.11.7", "CPython 3.12.1")
    assert diff.platform == (a.platform, "macOS-14.2-arm64-arm-64bit")
    assert diff.machine == ("x86_64", "arm64")
    assert not diff.added and not diff.removed and not diff.changed
    assert not diff.empty


def test_diff_of_equal_environments_is_empty() -> None:
    assert diff_environments(env(), env()).empty
    assert diff_environments(capture_environment(), capture_environment()).empty


def test_no_accelerator_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as on a machine without torch
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    capture_environment.cache_clear()
    try:
        assert capture_environment().accelerator is None
    finally:
        capture_environment.cache_clear()


def test_torch_versions_are_read_without_importing_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('torch must not be imported')\n")
    (package / "version.py").write_text(
        "from typing import Optional\n"
        "__all__ = ['__version__', 'cuda']\n"
        "__version__ = '2.13.0+cu121'\n"
        "debug = False\n"
        "cuda: Optional[str] = '12.1'\n"
        "git_version = 'abc'\n"
        "hip: Optional[str] = None\n"
    )
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    accelerator = capture_environment().accelerator
    assert accelerator == Accelerator(torch="2.13.0+cu121", cuda="12.1", cudnn=None)
    assert "torch" not in sys.modules


def test_an_imported_torch_is_asked_for_cudnn(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = types.SimpleNamespace(
        __version__="2.13.0+cu121",
        version=types.SimpleNamespace(cuda="12.1"),
        backends=types.SimpleNamespace(cudnn=types.SimpleNamespace(version=lambda: 90100)),
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    accelerator = capture_environment().accelerator
    assert accelerator == Accelerator(torch="2.13.0+cu121", cuda="12.1", cudnn=90100)


def test_cached_environment_equals_a_fresh_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcd.pipeline.env import capture_environment_cached

    monkeypatch.delitem(sys.modules, "torch", raising=False)  # with torch loaded: never cached
    capture_environment.cache_clear()
    cache = tmp_path / "env.json"
    first = capture_environment_cached(cache)
    assert cache.exists()
    assert capture_environment_cached(cache) == first == capture_environment()
    raw = cache.read_text()
    cache.write_text(raw.replace(first.python, "0.0.0"))  # same key, edited content
    assert capture_environment_cached(cache).python == "0.0.0"  # proves it was read
    cache.write_text("{broken")
    assert capture_environment_cached(cache) == first
