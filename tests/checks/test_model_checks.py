"""Model checks on real scikit-learn estimators: healthy ones pass, broken ones fail and say why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlcd.checks.model import (
    beats_baseline,
    class_balance,
    deterministic,
    mean_prediction,
    row_order_invariant,
    run_model_checks,
)
from mlcd.testing import assert_check


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    y = pd.Series((X["a"] + 0.5 * X["b"] > 0).astype(int))
    return X, y


class BatchDependent(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """Scores each row against the batch mean: its predictions depend on the other rows."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> BatchDependent:
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        values = np.asarray(X)[:, 0]
        return (values > np.cumsum(values) / np.arange(1, len(values) + 1)).astype(int)


class Noisy(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """Ignores its seed: two trainings disagree."""

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Noisy:
        self.w_ = np.random.default_rng().normal(size=np.asarray(X).shape[1])
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (np.asarray(X) @ self.w_ > 0).astype(int)


def test_a_healthy_classifier_passes_every_check(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    for result in [
        beats_baseline(model, X, y, margin=0.2),
        class_balance(model, X, y),
        row_order_invariant(model, X),
        deterministic(RandomForestClassifier(n_estimators=5), X, y),
    ]:
        assert_check(result)
        assert result.passed and result.message


def test_a_dummy_does_not_beat_the_baseline(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    dummy = DummyClassifier(strategy="most_frequent").fit(X, y)
    result = beats_baseline(dummy, X, y, margin=0.01)
    assert not result.passed and "baseline" in result.message
    with pytest.raises(AssertionError, match="beats_baseline"):
        assert_check(result)


def test_a_collapsed_classifier_fails_class_balance(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    collapsed = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    result = class_balance(collapsed, X, y)
    assert not result.passed and "predicts class 1 for 100% of rows" in result.message


def test_regression_mean_prediction(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = data
    target = 3 * X["a"] + 10
    good = LinearRegression().fit(X, target)
    assert mean_prediction(good, X, target).passed
    shifted = LinearRegression().fit(X, target + 5)  # learned an offset the target lacks
    result = mean_prediction(shifted, X, target)
    assert not result.passed and result.value > 1


def test_row_order_and_determinism_failures(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    result = row_order_invariant(BatchDependent().fit(X, y), X)
    assert not result.passed and "change when the rows are shuffled" in result.message
    result = deterministic(Noisy(), X, y)
    assert not result.passed and "differ between two trainings" in result.message


def test_unknown_or_crashing_checks_report_instead_of_raising(
    data: tuple[pd.DataFrame, pd.Series],
) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    results = run_model_checks(model, X.drop(columns=["c"]), y, ["nope", "beats_baseline"])
    assert [r.passed for r in results] == [False, False]
    assert "unknown model check" in results[0].message
    assert "ValueError" in results[1].message
