"""Real scikit-learn models and data for registry tests, and what a failed command must not
leave behind (rows, events, blobs, scratch folders)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcd.workspace import Workspace
from tests.cli.conftest import files_under

CI_USERS = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR", "CIRCLE_USERNAME")
FOREST_TYPES = ["sklearn.tree._tree.Tree"]  # what skops does not trust in a random forest


@pytest.fixture(autouse=True)
def _os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """`created_by` and alias history name the OS user, also when the suite runs in CI."""
    for var in CI_USERS:
        monkeypatch.delenv(var, raising=False)


def features(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Numeric features with named columns, of two dtypes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "tenure": rng.normal(3, 1, n),
            "visits": rng.integers(0, 20, n),
        }
    )


def labels(x: pd.DataFrame) -> np.ndarray[Any, Any]:
    return ((x["amount"] - 50) / 10 + (x["tenure"] - 3) + x["visits"] / 20 > 0.5).to_numpy(int)


def target(x: pd.DataFrame) -> np.ndarray[Any, Any]:
    return (2.0 * x["amount"] - 3.0 * x["tenure"] + 0.5 * x["visits"]).to_numpy()


@pytest.fixture(scope="session")
def train() -> pd.DataFrame:
    return features(200, seed=0)


@pytest.fixture(scope="session")
def fresh() -> pd.DataFrame:
    """Data no model was fit or registered with."""
    return features(300, seed=99)


@pytest.fixture(scope="session")
def logreg(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(train, labels(train))


@pytest.fixture(scope="session")
def forest(train: pd.DataFrame) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(
        train, labels(train)
    )


@pytest.fixture(scope="session")
def ridge(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=0.5).fit(train, target(train))


@pytest.fixture(scope="session")
def scaled(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression()).fit(train, labels(train))


@dataclass(frozen=True)
class Registry:
    """Everything a registration writes: a failed one must change none of it."""

    models: list[str]
    versions: list[tuple[str, int]]
    events: list[tuple[str, str]]
    history: int
    blobs: list[str]
    scratch: list[str]


def registry_state(root: Path) -> Registry:
    with Workspace(root) as ws, ws.db.sql() as db:  # SQLite or PostgreSQL, as mlcd.yaml says
        models = [r["name"] for r in db.execute("SELECT name FROM models ORDER BY name")]
        versions = db.execute(
            "SELECT m.name, v.number FROM model_versions v JOIN models m ON m.id = v.model_id"
            " ORDER BY m.name, v.number"
        )
        events = db.execute("SELECT type, subject FROM events ORDER BY id")
        (history,) = db.execute("SELECT count(*) AS n FROM alias_history")
    scratch = files_under(root / ".mlcd" / "tmp") + files_under(root / ".mlcd" / "objects" / "tmp")
    if (root / ".mlcd" / "tmp").is_dir():  # empty register-*/load-* folders count too
        scratch += sorted(p.name for p in (root / ".mlcd" / "tmp").iterdir())
    return Registry(
        models,
        [(v["name"], v["number"]) for v in versions],
        [(e["type"], e["subject"]) for e in events],
        history["n"],
        files_under(root / ".mlcd" / "objects" / "b3"),
        scratch,
    )


def blob_path(ws: Workspace, blob: str) -> Path:
    return ws.root / ".mlcd" / "objects" / "b3" / blob[3:5] / blob[5:]


def corrupt_blob(ws: Workspace, blob: str) -> None:
    """Flip bytes of a stored blob in place (blobs are stored read-only)."""
    path = blob_path(ws, blob)
    assert path.is_file(), path
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def registered(ws: Workspace, logreg: Any, train: pd.DataFrame) -> Iterator[Workspace]:
    """`ws` with churn@1..3 (the same logistic regression, three metrics)."""
    for auc in (0.71, 0.74, 0.78):
        ws.register_model("churn", logreg, example=train.head(10), metrics={"auc": auc})
    yield ws
