"""Entry point of a Python step: `python -m mlcd.pipeline.callable module:function`.

Runs in its own process (like a shell step) so that a crash, `sys.exit` or leaked state of
one step cannot affect the runner or another step. Seeds every generator before the call.
"""

from __future__ import annotations

import importlib
import inspect
import sys

from mlcd.pipeline.context import current_run
from mlcd.pipeline.seeds import seed_everything


def main(target: str) -> None:
    module_name, _, func_name = target.partition(":")
    sys.path[:0] = ["", "src"]  # the workspace root is the cwd; src/ layouts work too
    seed_everything()  # torch, if the module imports it, is seeded as it loads
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        sys.exit(f"error: {module_name} has no function {func_name!r}")
    if inspect.signature(func).parameters:
        func(current_run())
    else:
        func()


if __name__ == "__main__":
    main(sys.argv[1])
