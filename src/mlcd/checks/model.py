"""ML integration tests for any estimator with the scikit-learn API.

Each check measures something about the model on held-out data and returns a CheckResult
saying what it measured, so a failure explains itself ("predicts class 1 for 100% of rows").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlcd.checks.result import CheckResult, run_named


def _is_classifier(model: Any) -> bool:
    return getattr(model, "_estimator_type", None) == "classifier" or hasattr(
        model, "predict_proba"
    )


def beats_baseline(model: Any, X: Any, y: Any, margin: float = 0.0) -> CheckResult:
    """The model scores better than a dummy (majority class / mean) by at least `margin`
    (accuracy for classifiers, R^2 for regressors, on the given validation data)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    classifier = _is_classifier(model)
    dummy = DummyClassifier(strategy="most_frequent") if classifier else DummyRegressor()
    dummy.fit(X, y)
    ours, base = float(model.score(X, y)), float(dummy.score(X, y))
    metric = "accuracy" if classifier else "R^2"
    ok = ours >= base + margin
    return CheckResult(
        "model.beats_baseline",
        ok,
        ours,
        base + margin,
        f"{metric} {ours:.4f} vs baseline {base:.4f}"
        + ("" if ok else f": needs {base + margin:.4f}"),
        diagnostics={"baseline": base, "metric": metric},
    )


def mean_prediction(model: Any, X: Any, y: Any, tolerance: float = 0.1) -> CheckResult:
    """Regression: the mean prediction is within `tolerance` target standard deviations of
    the target mean (a model that learned an offset or a scale fails)."""
    import numpy as np

    pred = np.asarray(model.predict(X), dtype=float)
    target = np.asarray(y, dtype=float)
    spread = float(target.std()) or 1.0
    gap = abs(float(pred.mean()) - float(target.mean())) / spread
    return CheckResult(
        "model.mean_prediction",
        gap <= tolerance,
        gap,
        tolerance,
        f"mean prediction {pred.mean():.4g} vs target mean {target.mean():.4g}"
        f" ({gap:.3f} target std apart)",
    )


def class_balance(model: Any, X: Any, y: Any, tolerance: float = 0.2) -> CheckResult:
    """Classification: each class's share of predictions is within `tolerance` of its share
    of labels, and the model does not collapse to a single class."""
    pred = [str(v) for v in list(model.predict(X))]
    labels = [str(v) for v in list(y)]
    pc, lc = Counter(pred), Counter(labels)
    shift = max(abs(pc[k] / len(pred) - lc[k] / len(labels)) for k in set(pc) | set(lc))
    collapsed = len(pc) == 1 and len(lc) > 1
    ok = shift <= tolerance and not collapsed
    top, n = pc.most_common(1)[0]
    msg = (
        f"predicts class {top} for {n / len(pred):.0%} of rows"
        if collapsed
        else f"largest gap between predicted and label class shares {shift:.2%}"
    )
    return CheckResult(
        "model.class_balance",
        ok,
        shift,
        tolerance,
        msg,
        diagnostics={"predicted": dict(pc), "labels": dict(lc)},
    )


def row_order_invariant(model: Any, X: Any, seed: int = 0) -> CheckResult:
    """Predictions do not depend on the order of rows in the batch."""
    import numpy as np

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    shuffled = X.iloc[order] if hasattr(X, "iloc") else np.asarray(X)[order]
    a = np.asarray(model.predict(X))
    b = np.empty_like(a)
    b[order] = np.asarray(model.predict(shuffled))
    same = bool(np.array_equal(a, b)) if a.dtype.kind not in "fc" else bool(np.allclose(a, b))
    differ = int((a != b).sum()) if not same else 0
    return CheckResult(
        "model.row_order_invariant",
        same,
        differ,
        0,
        "predictions do not depend on row order"
        if same
        else f"{differ} predictions change when the rows are shuffled",
    )


def deterministic(model: Any, X: Any, y: Any, seed: int = 0) -> CheckResult:
    """Retraining a clone with the same seed on the same data gives identical predictions."""
    import numpy as np
    from sklearn.base import clone

    def fit_predict() -> Any:
        est = clone(model)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        np.random.seed(seed)
        return np.asarray(est.fit(X, y).predict(X))

    a, b = fit_predict(), fit_predict()
    same = bool(np.array_equal(a, b))
    return CheckResult(
        "model.deterministic",
        same,
        int((a != b).sum()),
        0,
        "two trainings with the same seed predict identically"
        if same
        else f"{int((a != b).sum())} of {len(a)} predictions differ between two trainings",
    )


SKLEARN_CHECKS = {
    "better_than_baseline": lambda m, X, y: beats_baseline(m, X, y),
    "beats_baseline": lambda m, X, y: beats_baseline(m, X, y),
    "mean_prediction": lambda m, X, y: mean_prediction(m, X, y),
    "class_balance": lambda m, X, y: class_balance(m, X, y),
    "row_order_invariant": lambda m, X, y: row_order_invariant(m, X),
    "deterministic": lambda m, X, y: deterministic(m, X, y),
}


def run_model_checks(model: Any, X: Any, y: Any, names: list[str]) -> list[CheckResult]:
    """Declared checks by name; an unknown name or a check that crashes is a failed result."""
    from functools import partial

    calls = {name: partial(fn, model, X, y) for name, fn in sorted(SKLEARN_CHECKS.items())}
    return run_named(calls, names, "model")
