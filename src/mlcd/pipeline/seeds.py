"""Seeding every random number generator a step is likely to use, the same way every time.

torch takes seconds to import, so it is never imported for seeding: when it is already loaded
it is seeded at once, otherwise a one-shot import hook seeds it the moment the step imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import random
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any


def seed_everything(seed: int | None = None, *, deterministic_torch: bool = True) -> int:
    """Seed `random`, numpy and torch (now if imported, else on its import); returns the seed.

    Args:
        seed: the seed; default `MLCD_SEED` from the run, else 0.
        deterministic_torch: also ask torch for deterministic algorithms (slower kernels,
            reproducible results).

    `PYTHONHASHSEED` only affects new interpreters, so mlcd sets it for the step's process
    itself; here it is exported for any subprocess the step starts.
    """
    if seed is None:
        seed = int(os.environ.get("MLCD_SEED", "0"))
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    if "torch" in sys.modules:
        _seed_torch(sys.modules["torch"], seed, deterministic_torch)
    else:
        _TorchHook.install(seed, deterministic_torch)
    return seed


def _seed_torch(torch: Any, seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic on GPUs
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        if hasattr(torch.backends, "cudnn"):
            torch.backends.cudnn.benchmark = False


class _TorchHook(importlib.abc.MetaPathFinder):
    """Seeds torch right after its first import, then removes itself."""

    seed = 0
    deterministic = True

    @classmethod
    def install(cls, seed: int, deterministic: bool) -> None:
        cls.seed, cls.deterministic = seed, deterministic
        if not any(isinstance(f, cls) for f in sys.meta_path):
            sys.meta_path.insert(0, cls())

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module
        hook = type(self)

        def exec_module(module: ModuleType) -> None:
            original(module)
            _seed_torch(module, hook.seed, hook.deterministic)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
