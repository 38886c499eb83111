"""Lineage end to end: a pipeline step trains a real scikit-learn model on a pinned snapshot, the
`model:` block registers it, and the registry answers "which data, code, params, seed and
environment made this?" and "which models were trained on this dataset version?"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml

from mlcd.events.log import MODEL_REGISTERED, list_events
from mlcd.workspace import Workspace
from tests.cli.conftest import Cli, assert_error, mlcd
from tests.conftest import git, write_partitions

TRAIN = '''\
"""Train a channel classifier on the pinned sales snapshot."""

from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.linear_model import LogisticRegression

import mlcd

sales = mlcd.inputs()["sales"].to_pandas()
x = sales[["amount", "items"]]
model = LogisticRegression(C=mlcd.params()["train"]["C"], max_iter=500).fit(x, sales["channel"])
Path("model").mkdir(exist_ok=True)
sio.dump(model, "model/model.skops")
x.head(20).to_parquet("example.parquet")
mlcd.log_metric("accuracy", model.score(x, sales["channel"]))
# the Python API inside a step: the version's lineage is this step's run
mlcd.register_model("churn-py", model, example=x.head(10), datasets={"sales": "validation"})
'''

STEPS = {
    "train": {
        "run": "python train.py",
        "inputs": ["datasets.sales@latest"],
        "params": ["train"],
        "outputs": {"model": "model/", "example": "example.parquet"},
        "model": {
            "name": "churn",
            "output": "model",
            "example": "example.parquet",
            "datasets": {"sales": "train"},
            "description": "channel classifier",
        },
    }
}


@pytest.fixture(scope="module")
def _trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A git repository with a workspace whose pipeline ran once: churn@1 and churn-py@1."""
    root = tmp_path_factory.mktemp("lineage") / "ws"
    with Workspace.init(root) as ws:
        sales = write_partitions(root / "data" / "sales", ["2024-01-01", "2024-01-02"])
        assert ws.snapshot("sales", sales).version.ref == "sales@1"
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text(yaml.safe_dump({"train": {"C": 0.5}}))
    config = yaml.safe_load((root / "mlcd.yaml").read_text())
    config["steps"] = STEPS
    (root / "mlcd.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with (root / ".gitignore").open("a") as f:
        f.write("/data/\n/model/\n/example.parquet\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "train a churn model")
    commit = git(root, "rev-parse", "HEAD")
    with Workspace(root) as ws:
        result = ws.run()
    assert result.status == "succeeded", [s.error for s in result.steps]
    (step,) = result.steps
    assert (step.status, step.model) == ("succeeded", "churn@1")
    return root, result.run_id, commit


@pytest.fixture
def trained(
    _trained: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, str, str]]:
    """A copy of the trained workspace (the current folder), its run id and commit."""
    template, run_id, commit = _trained
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    monkeypatch.chdir(root)
    with Workspace(root) as ws:
        yield ws, run_id, commit


# -- a pipeline trains and registers (slow: the step is a real Python process) --------------


@pytest.mark.slow
def test_the_model_block_registers_the_step_output_with_its_lineage(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, run_id, commit = trained
    v = ws.model("churn@1")
    run = ws.get_run(run_id)
    sales = ws.version("sales@1")
    assert (v.flavor, v.description, v.step) == ("sklearn", "channel classifier", "train")
    assert v.run_id == run_id
    assert v.git is not None and v.git["commit"] == commit and v.git["dirty"] is False
    assert v.seed == run.seed == ws.config.seed
    assert v.params == run.params and v.params["train"] == {"C": 0.5}
    assert v.env_lock == run.env_lock and v.env_lock is not None
    assert [(d.ref, d.content_id, d.role) for d in v.datasets] == [
        ("sales@1", sales.content_id, "train")
    ]
    assert v.metrics["accuracy"] > 0.4  # the step's logged metric becomes the version's
    # the example file gave the signature, and the twin agrees with the model
    assert [c["name"] for c in v.signature["inputs"]["columns"]] == ["amount", "items"]
    assert v.onnx_serving and v.onnx_parity is not None and v.onnx_parity < 1e-5
    # the artifact is the step's output, byte for byte
    native = ws.load_model("churn@1")
    written = sio.load(ws.root / "model" / "model.skops")
    x = pd.DataFrame({"amount": np.linspace(0, 1, 50), "items": np.arange(50) % 10})
    np.testing.assert_array_equal(native.predict(x), written.predict(x))


@pytest.mark.slow
def test_registering_from_inside_a_step_takes_the_run_as_lineage(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, run_id, commit = trained
    v = ws.model("churn-py@1")
    assert (v.run_id, v.step, v.seed) == (run_id, "train", ws.config.seed)
    assert v.git is not None and v.git["commit"] == commit
    assert [(d.ref, d.role) for d in v.datasets] == [("sales@1", "validation")]
    with ws.db.sql() as conn:
        events = list_events(conn, type_=MODEL_REGISTERED)
    assert sorted(e.subject for e in events) == ["churn-py@1", "churn@1"]
    assert {e.payload["run"] for e in events} == {run_id}


@pytest.mark.slow
def test_lineage_reaches_the_dataset_files_and_their_hashes(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, run_id, commit = trained
    tree = ws.lineage("churn@1")
    assert tree["model"] == "churn@1"
    assert tree["git"]["commit"] == commit
    assert tree["run"]["id"] == run_id and tree["run"]["status"] == "succeeded"
    (step,) = tree["run"]["steps"]
    assert step["step"] == "train" and step["key"]
    assert set(step["outputs"]) == {"model", "example"}
    (data,) = tree["datasets"]
    sales = ws.version("sales@1", with_files=True)
    assert (data["dataset"], data["role"], data["content_id"]) == (
        "sales@1",
        "train",
        sales.content_id,
    )
    assert data["rows"] == 200
    files = {f["path"]: f["blob"] for f in data["files"]}
    assert files == {f.path: f.blob for f in sales.files}
    assert len(files) == 2
    # the blobs are the files: the lineage names content, not just paths
    for path, blob in files.items():
        assert ws.store.get_bytes(blob) == (ws.root / "data" / "sales" / path).read_bytes()


@pytest.mark.slow
def test_a_cached_rerun_registers_nothing_new(trained: tuple[Workspace, str, str]) -> None:
    ws, run_id, _ = trained
    result = ws.run()
    (step,) = result.steps
    assert (step.status, step.model) == ("cached", None)
    assert [v.number for v in ws.model_versions("churn")] == [1]
    assert [v.number for v in ws.model_versions("churn-py")] == [1]
    with ws.db.sql() as conn:
        assert len(list_events(conn, type_=MODEL_REGISTERED)) == 2
    # the dataset was still consumed, by the second run
    used = ws.used_by("sales@1")
    assert [r["run"] for r in used["runs"]] == [run_id, result.run_id]


@pytest.mark.slow
def test_a_failed_registration_fails_the_step(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, _, _ = trained
    config = yaml.safe_load((ws.root / "mlcd.yaml").read_text())
    config["steps"]["train"]["model"]["example"] = "missing.parquet"
    (ws.root / "mlcd.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with Workspace(ws.root) as changed:
        result = changed.run(force=True)
        (step,) = result.steps
        assert step.status == "failed"
        assert step.error is not None and "registering model 'churn' failed" in step.error
        assert "missing.parquet" in step.error
        assert [v.number for v in changed.model_versions("churn")] == [1]


@pytest.mark.slow
def test_registering_by_hand_with_a_run_or_explicit_datasets(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, run_id, commit = trained
    path = ws.root / "model" / "model.skops"
    by_run = ws.register_model("churn", path, run=run_id, datasets={"sales": "test"})
    assert (by_run.ref, by_run.run_id, by_run.step) == ("churn@2", run_id, None)
    assert by_run.git is not None and by_run.git["commit"] == commit
    assert [(d.ref, d.role) for d in by_run.datasets] == [("sales@1", "test")]
    by_hand = ws.register_model("churn", path, datasets={"sales@1": "train"})
    assert (by_hand.run_id, by_hand.git, by_hand.seed) == (None, None, None)
    assert [(d.ref, d.role) for d in by_hand.datasets] == [("sales@1", "train")]
    tree = ws.lineage("churn@3")
    assert tree["run"] is None and tree["datasets"][0]["dataset"] == "sales@1"
    models = [(m["ref"], m["role"]) for m in ws.used_by("sales@1")["models"]]
    assert models == [  # by model name, then version
        ("churn@1", "train"),
        ("churn@2", "test"),
        ("churn@3", "train"),
        ("churn-py@1", "validation"),
    ]


@pytest.mark.slow
def test_used_by_and_lineage_commands(trained: tuple[Workspace, str, str], cli: Cli) -> None:
    ws, run_id, commit = trained
    used = cli("data", "used-by", "sales@1", "--json").json()
    assert used["dataset"] == "sales@1"
    assert {(m["ref"], m["role"], m["run"]) for m in used["models"]} == {
        ("churn@1", "train", run_id),
        ("churn-py@1", "validation", run_id),
    }
    assert [(r["run"], r["status"]) for r in used["runs"]] == [(run_id, "succeeded")]
    text = cli("data", "used-by", "sales@1")
    assert text.code == 0 and "churn@1" in text.out and run_id in text.out
    tree = cli("models", "lineage", "churn@1", "--json").json()
    assert tree == ws.lineage("churn@1")
    assert tree["datasets"][0]["files"][0]["blob"].startswith("b3:")
    human = cli("models", "lineage", "churn@1")
    assert human.code == 0
    for needle in (f"run {run_id}", f"commit {commit}", "sales@1 (train)", "date=2024-01-01"):
        assert needle in human.out
    ws.snapshot("sales", write_partitions(ws.root / "data" / "sales", ["2024-01-03"]))
    unused = cli("data", "used-by", "sales@2")
    assert unused.code == 0 and "no model or run has used it" in unused.out
    assert_error(cli("data", "used-by", "sales@9"), "sales")
    assert_error(cli("models", "lineage", "churn@9"), "no version 9")


@pytest.mark.slow
def test_lineage_and_used_by_as_real_processes(trained: tuple[Workspace, str, str]) -> None:
    ws, run_id, _ = trained
    tree = mlcd("models", "lineage", "churn@1", "--json", cwd=ws.root).json()
    assert tree["run"]["id"] == run_id
    assert [d["dataset"] for d in tree["datasets"]] == ["sales@1"]
    used = mlcd("data", "used-by", "sales@1", "--json", cwd=ws.root).json()
    assert "churn@1" in {m["ref"] for m in used["models"]}
    assert_error(mlcd("models", "lineage", "nope@1", cwd=ws.root), "'nope' does not exist")


# -- without a pipeline (fast) ---------------------------------------------------------------


def test_explicit_datasets_give_a_lineage_without_a_run(
    ws: Workspace, sales: Path, cli: Cli
) -> None:
    from sklearn.linear_model import LogisticRegression

    ws.snapshot("sales", sales)
    frame = ws.load("sales@1").to_pandas()
    model = LogisticRegression().fit(frame[["amount", "items"]], frame["channel"])
    v = ws.register_model("churn", model, datasets={"sales@1": "train"})
    assert [(d.ref, d.role) for d in v.datasets] == [("sales@1", "train")]
    tree = ws.lineage("churn@latest")
    assert (tree["model"], tree["run"], tree["git"]) == ("churn@1", None, None)
    (data,) = tree["datasets"]
    version = ws.version("sales@1", with_files=True)
    assert {f["path"]: f["blob"] for f in data["files"]} == {f.path: f.blob for f in version.files}
    assert len(data["files"]) == 3 and data["rows"] == 300
    assert ws.used_by("sales@1")["models"] == [{"ref": "churn@1", "role": "train", "run": None}]
    human = cli("models", "lineage", "churn@1")
    assert human.code == 0 and "no run recorded" in human.out and "sales@1 (train)" in human.out


def test_a_run_given_by_id_is_the_lineage(ws: Workspace, sales: Path, logreg: Any) -> None:
    # a shell step is enough to make a run that pins sales@1; the model is registered by hand
    ws.snapshot("sales", sales)
    config = yaml.safe_load((ws.root / "mlcd.yaml").read_text())
    config["steps"] = {
        "count": {
            "run": "sh -c 'ls data/sales > listing.txt'",
            "inputs": ["datasets.sales@latest"],
            "outputs": {"listing": "listing.txt"},
        }
    }
    (ws.root / "mlcd.yaml").write_text(yaml.safe_dump(config))
    with Workspace(ws.root) as again:
        result = again.run(seed=7)
        assert result.status == "succeeded"
        v = again.register_model("churn", logreg, run=result.run_id, datasets={"sales": "test"})
        assert (v.run_id, v.seed, v.step) == (result.run_id, 7, None)
        assert v.env_lock == again.get_run(result.run_id).env_lock
        assert [(d.ref, d.role) for d in v.datasets] == [("sales@1", "test")]
        tree = again.lineage("churn@1")
        assert tree["run"]["id"] == result.run_id
        assert [s["step"] for s in tree["run"]["steps"]] == ["count"]
        used = again.used_by("sales@1")
        assert used["models"] == [{"ref": "churn@1", "role": "test", "run": result.run_id}]
        assert [r["run"] for r in used["runs"]] == [result.run_id]
