"""Helpers for users' own pytest files: model and data checks as functions, and assert_check.

from mlcd.testing import assert_check, beats_baseline

def test_model_beats_baseline(model, X_val, y_val):
    assert_check(beats_baseline(model, X_val, y_val, margin=0.05))
"""

from __future__ import annotations

from mlcd.checks.model import (
    beats_baseline,
    class_balance,
    deterministic,
    mean_prediction,
    row_order_invariant,
)
from mlcd.checks.nn import (
    activations,
    gradients,
    initial_loss,
    overfits_batch,
    uses_input,
    weight_init,
)
from mlcd.checks.result import CheckResult

__all__ = [
    "CheckResult",
    "activations",
    "assert_check",
    "beats_baseline",
    "class_balance",
    "deterministic",
    "gradients",
    "initial_loss",
    "mean_prediction",
    "overfits_batch",
    "row_order_invariant",
    "uses_input",
    "weight_init",
]


def assert_check(result: CheckResult) -> CheckResult:
    """Raise AssertionError with the check's own explanation when it failed."""
    if result.failed:
        raise AssertionError(f"{result.name}: {result.message}")
    return result
