"""Step keys: the hash of everything that can change a step's outputs.

key = hash(definition, code files, param values, input content ids, seed, environment lock).
Two runs with the same key must produce the same outputs, so the second can be restored.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from blake3 import blake3

from mlcd.pipeline.files import Hasher
from mlcd.pipeline.spec import Step

KEY_VERSION = 1  # bump when what goes into a key changes, so old cache entries stop matching


def code_files(step: Step, root: Path) -> list[str]:
    """Files whose content is the step's code: scripts named on its command line, the module
    of `python -m pkg.mod` or of `pkg.mod:function`, and the declared `deps`."""
    found: list[str] = []
    if step.is_callable:
        found.extend(_module_files(step.run.strip().split(":")[0], root))
    else:
        try:
            tokens = shlex.split(step.run)
        except ValueError:
            tokens = step.run.split()
        for i, token in enumerate(tokens):
            if i > 0 and tokens[i - 1] == "-m":
                found.extend(_module_files(token, root))
            elif (root / token).is_file() and not Path(token).is_absolute():
                found.append(Path(token).as_posix())
    found.extend(step.deps)
    return sorted(set(found))


def _module_files(module: str, root: Path) -> list[str]:
    rel = Path(*module.split("."))
    for base in (Path("."), Path("src")):
        for candidate in (base / rel.with_suffix(".py"), base / rel / "__main__.py"):
            if (root / candidate).is_file():
                files = [candidate.as_posix()]
                init = root / base / rel / "__init__.py"
                if candidate.name == "__main__.py" and init.is_file():
                    files.append((base / rel / "__init__.py").as_posix())
                return files
    return []  # an installed module: its version is in the environment lock


def step_key(
    step: Step,
    hasher: Hasher,
    params: dict[str, Any],
    inputs: dict[str, str | None],
    seed: int,
    env_lock: str,
) -> str:
    code = {path: hasher.path(path) for path in code_files(step, hasher.root)}
    payload = {
        "v": KEY_VERSION,
        "definition": step.definition(),
        "code": code,
        "params": params,
        "inputs": inputs,
        "seed": seed,
        "env": env_lock,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "b3:" + blake3(text.encode()).hexdigest()
