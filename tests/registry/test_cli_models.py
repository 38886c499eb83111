"""`mlcd models ...` end to end on real artifacts: register with every option, list, show,
versions; every bad input one clear error, exit 1, nothing registered. In-process for speed,
as real processes where the exit code and the absence of a traceback are the point."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from mlcd.registry.signature import load_example
from mlcd.workspace import Workspace
from tests.cli.conftest import Cli, assert_error, mlcd
from tests.postgres import BACKENDS
from tests.registry.conftest import FOREST_TYPES, registry_state

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL


@pytest.fixture
def artifact(ws: Workspace, logreg: Any, train: pd.DataFrame) -> Path:
    """model.skops and an example.parquet in the workspace; sales@1 snapshotted."""
    sio.dump(logreg, ws.root / "model.skops")
    train.head(8).to_parquet(ws.root / "example.parquet")
    return ws.root / "model.skops"


def register_args(*extra: str) -> list[str]:
    return [
        "models",
        "register",
        "churn",
        "model.skops",
        "--example",
        "example.parquet",
        "--metric",
        "auc=0.91",
        "--metric",
        "f1=0.5",
        "--tag",
        "team=growth",
        "--tag",
        "note=a=b",  # only the first '=' splits
        "--dataset",
        "sales@1=train",
        "-d",
        "weekly retrain",
        *extra,
    ]


def test_register_with_every_option(
    ws: Workspace, artifact: Path, sales: Path, cli: Cli, train: pd.DataFrame, logreg: Any
) -> None:
    ws.snapshot("sales", sales)
    got = cli(*register_args("--json")).json()
    assert (got["ref"], got["flavor"], got["onnx_serving"]) == ("churn@1", "sklearn", True)
    assert got["metrics"] == {"auc": 0.91, "f1": 0.5}
    assert got["tags"] == {"team": "growth", "note": "a=b"}
    assert got["description"] == "weekly retrain"
    assert [(d["ref"], d["role"]) for d in got["datasets"]] == [("sales@1", "train")]
    assert got["datasets"][0]["content_id"] == ws.version("sales@1").content_id
    assert [c["name"] for c in got["signature"]["inputs"]["columns"]] == list(train.columns)
    v = ws.model("churn@1")
    assert v.to_dict() == got
    assert v.example is not None
    pd.testing.assert_frame_equal(load_example(ws.store.get_bytes(v.example)), train.head(5))
    fresh = train.sample(50, random_state=1)
    np.testing.assert_array_equal(ws.load_model("churn@1").predict(fresh), logreg.predict(fresh))
    # the human line says what happened
    again = cli(*register_args())
    assert again.code == 0 and again.out.strip() == (
        "churn@2 registered (sklearn, 2 files, ONNX twin serves)"
    )


def test_examples_from_csv_and_npy(
    ws: Workspace, artifact: Path, train: pd.DataFrame, cli: Cli
) -> None:
    from sklearn.linear_model import LogisticRegression

    train.head(8).to_csv(ws.root / "x.csv", index=False)
    got = cli("models", "register", "churn", "model.skops", "--example", "x.csv", "--json")
    inputs = got.json()["signature"]["inputs"]
    assert inputs["type"] == "dataframe"
    assert [c["name"] for c in inputs["columns"]] == list(train.columns)
    # a model fit on a bare matrix, with a .npy example: a shape, not columns
    x = train.to_numpy()
    sio.dump(LogisticRegression().fit(x, x[:, 0] > 50), ws.root / "plain.skops")
    np.save(ws.root / "x.npy", x[:8])
    got = cli("models", "register", "plain", "plain.skops", "--example", "x.npy", "--json")
    assert got.json()["signature"]["inputs"] == {
        "type": "ndarray",
        "shape": [None, 3],
        "dtype": "float64",
    }


def test_list_show_and_versions(registered: Workspace, cli: Cli) -> None:
    registered.set_alias("churn", "production", 2)
    listed = cli("models", "list", "--json").json()
    assert [(m["name"], m["latest"], m["versions"], m["aliases"]) for m in listed] == [
        ("churn", 3, 3, {"production": 2})
    ]
    table = cli("models", "list")
    assert table.code == 0
    assert "churn@3" in table.out and "production->2" in table.out
    shown = cli("models", "show", "churn@2")
    assert shown.code == 0
    for needle in (
        "churn@2  [production]",
        "amount:float64, tenure:float64, visits:int64",
        "max abs difference",
        "auc=0.74",
        "by " + registered.model("churn@2").created_by,
    ):
        assert needle in shown.out, needle
    versions = cli("models", "versions", "churn", "--json").json()
    assert [v["ref"] for v in versions] == ["churn@3", "churn@2", "churn@1"]
    text = cli("models", "versions", "churn")
    assert text.code == 0 and text.out.index("churn@3") < text.out.index("churn@1")


def test_an_empty_registry(ws: Workspace, cli: Cli) -> None:
    assert cli("models", "list", "--json").json() == []
    empty = cli("models", "list")
    assert empty.code == 0 and "no models yet" in empty.out


def test_register_errors_in_process(ws: Workspace, artifact: Path, forest: Any, cli: Cli) -> None:
    sio.dump(forest, ws.root / "forest.skops")
    (ws.root / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    (ws.root / "example.txt").write_text("a,b\n")
    before = registry_state(ws.root)
    cases = [
        (["nope.skops"], "does not exist"),
        (["model.pkl"], "pickle"),
        (["forest.skops"], "sklearn.tree._tree.Tree"),
        (["model.skops", "--example", "missing.parquet"], "example file missing.parquet"),
        (["model.skops", "--example", "example.txt"], "is not .parquet, .csv or .npy"),
        (["model.skops", "--metric", "auc"], "expected KEY=VALUE"),
        (["model.skops", "--metric", "auc=high"], "--metric"),
        (["model.skops", "--tag", "=x"], "expected KEY=VALUE"),
        (["model.skops", "--dataset", "sales@1=train"], "sales"),
        (["model.skops", "--run", "20990101-000000-beef"], "20990101-000000-beef"),
        (["model.skops", "--flavor", "keras"], "unknown flavor 'keras'"),
    ]
    for args, needle in cases:
        assert_error(cli("models", "register", "churn", *args), needle)
    assert_error(cli("models", "register", "../x", "model.skops"), "invalid model name")
    assert registry_state(ws.root) == before
    # trusting the type the error named lets it in
    ok = cli("models", "register", "forest", "forest.skops", "--trust", FOREST_TYPES[0])
    assert ok.code == 0, ok.err
    assert registry_state(ws.root).versions == [("forest", 1)]


def test_show_errors(registered: Workspace, cli: Cli) -> None:
    assert_error(cli("models", "show", "nope@1"), "model 'nope' does not exist")
    assert_error(cli("models", "show", "churn@7"), "no version 7")
    assert_error(cli("models", "show", "churn@prod"), "has no alias 'prod'")
    assert_error(cli("models", "show", "churn@0"), "malformed version")
    assert_error(cli("models", "versions", "nope"), "'nope' does not exist")


def test_errors_as_real_processes(ws: Workspace, artifact: Path) -> None:
    # failures caught before any scikit-learn import: each costs an interpreter start only
    (ws.root / "model.joblib").write_bytes(b"\x80\x04joblib")
    before = registry_state(ws.root)
    root = ws.root
    assert_error(mlcd("models", "register", "churn", "gone.skops", cwd=root), "does not exist")
    assert_error(mlcd("models", "register", "churn", "model.joblib", cwd=root), "pickle")
    assert_error(
        mlcd("models", "register", "churn", "model.skops", "--metric", "x", cwd=root), "KEY=VALUE"
    )
    assert_error(mlcd("models", "show", "churn@1", cwd=root), "'churn' does not exist")
    assert_error(mlcd("models", "alias", "churn", "latest", "1", cwd=root), "invalid alias")
    assert registry_state(ws.root) == before


@pytest.mark.slow
def test_register_as_a_real_process(ws: Workspace, artifact: Path, sales: Path) -> None:
    ws.snapshot("sales", sales)
    ok = mlcd(*register_args(), cwd=ws.root)
    assert ok.code == 0, ok.err
    assert ok.out.strip() == "churn@1 registered (sklearn, 2 files, ONNX twin serves)"
    v = ws.model("churn@1")
    assert (v.metrics, v.tags["team"], v.datasets[0].ref) == (
        {"auc": 0.91, "f1": 0.5},
        "growth",
        "sales@1",
    )
    listed = mlcd("models", "list", "--json", cwd=ws.root).json()
    assert listed[0]["latest"] == 1


@pytest.mark.slow
def test_untrusted_types_as_a_real_process(ws: Workspace, forest: Any) -> None:
    sio.dump(forest, ws.root / "forest.skops")
    before = registry_state(ws.root)
    refused = mlcd("models", "register", "forest", "forest.skops", cwd=ws.root)
    line = assert_error(refused, "sklearn.tree._tree.Tree")
    assert "skops does not trust" in line
    assert "--trust sklearn.tree._tree.Tree" in refused.err  # the hint says how
    assert registry_state(ws.root) == before
    trusted = mlcd(
        "models", "register", "forest", "forest.skops", "--trust", FOREST_TYPES[0], cwd=ws.root
    )
    assert trusted.code == 0, trusted.err
    assert ws.model("forest@1").trusted_types == FOREST_TYPES
