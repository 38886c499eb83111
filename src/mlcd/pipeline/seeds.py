"""Seeding every random number generator a step is likely to use, the same way every time."""

from __future__ import annotations

import os
import random
import sys


def seed_everything(seed: int | None = None, *, deterministic_torch: bool = True) -> int:
    """Seed `random`, numpy and (when it is imported or installed) torch; returns the seed.

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
    if "torch" in sys.modules or _installed("torch"):
        import torch

        torch.manual_seed(seed)
        if deterministic_torch:
            # cuBLAS needs a fixed workspace to be deterministic on GPUs
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            if hasattr(torch.backends, "cudnn"):
                torch.backends.cudnn.benchmark = False
    return seed


def _installed(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None
