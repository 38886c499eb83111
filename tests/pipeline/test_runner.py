"""The runner on real steps: cache keys and restores, failures, seeds, determinism, pinned
inputs, parallel steps, git capture, and the run context API steps use."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlcd
from mlcd.errors import DirtyWorkTreeError, IntegrityError, MlcdError
from mlcd.pipeline import env as env_module
from mlcd.pipeline.files import StoredPath, tree_files
from mlcd.pipeline.keys import code_files
from mlcd.pipeline.spec import build_pipeline
from mlcd.store import hash_file
from tests.conftest import git, write_partitions
from tests.pipeline.conftest import Project, statuses
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

ALL_CACHED = {"notes": "cached", "prepare": "cached", "train": "cached", "report": "cached"}
OUTPUTS = ["features", "model", "metrics.json", "report.txt", "notes_count.txt"]


def snapshot_files(root: Path, paths: list[str]) -> dict[str, bytes]:
    """Every file under `paths`, by relative path, with its bytes."""
    found: dict[str, bytes] = {}
    for rel in paths:
        target = root / rel
        files = (
            [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
        )
        for f in files:
            found[f.relative_to(root).as_posix()] = f.read_bytes()
    return found


def step(result: Any, name: str) -> Any:
    return next(s for s in result.steps if s.step == name)


# -- the cache -------------------------------------------------------------------------------


def test_a_second_run_restores_every_step_from_the_cache(project: Project) -> None:
    first = project.ws().get_run(project.first_run)
    assert first.status == "succeeded"
    assert {s.step: s.status for s in first.steps} == {k: "succeeded" for k in ALL_CACHED}
    result = project.run()
    assert result.status == "succeeded"
    assert statuses(result) == ALL_CACHED
    again = project.ws().get_run(result.run_id)
    for old, new in zip(first.steps, again.steps, strict=True):
        assert (old.step, old.key, old.outputs) == (new.step, new.key, new.outputs)
    # a cached step keeps the metrics it measured
    assert step(result, "train").metrics == step(first, "train").metrics
    assert again.metrics["train.loss"] == pytest.approx(1 / 3)


def test_deleted_and_damaged_outputs_are_restored_byte_identical(project: Project) -> None:
    before = snapshot_files(project.root, OUTPUTS)
    assert "model/weights.json" in before and "features/amounts.json" in before
    for rel in ("features", "model"):
        shutil.rmtree(project.root / rel)
    (project.root / "report.txt").unlink()
    (project.root / "metrics.json").unlink()
    (project.root / "notes_count.txt").write_text("999\n")  # damaged, same path
    result = project.run()
    assert statuses(result) == ALL_CACHED
    assert snapshot_files(project.root, OUTPUTS) == before


def test_restoring_a_folder_removes_files_the_step_did_not_write(project: Project) -> None:
    (project.root / "model" / "stray.bin").write_bytes(b"left over")
    (project.root / "model" / "weights.json").write_text("{}")
    result = project.run()
    assert statuses(result) == ALL_CACHED
    assert sorted(p.name for p in (project.root / "model").iterdir()) == ["weights.json"]
    assert json.loads((project.root / "model" / "weights.json").read_text())["layers"] == [4, 2]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("change", "reran"),
    [
        # a param only report reads (test_params.py changes the others)
        (lambda p: {"overrides": ["report.title=daily"]}, {"report"}),
        # the code of a callable step (module file of `proj.train:main`)
        (
            lambda p: edit(p.root / "proj/train.py", "mean * params", "2 * mean * params"),
            {"train", "report"},
        ),
        # the module of `python -m proj.prepare`: a comment changes no feature, so the steps
        # downstream of it find their inputs unchanged and stay cached
        (
            lambda p: edit(p.root / "proj/prepare.py", "import json", "import json  # hm"),
            {"prepare"},
        ),
        # the script of `python report.py`
        (lambda p: edit(p.root / "report.py", "+ notes", "+ notes + '.'"), {"report"}),
        # a `deps` file
        (lambda p: edit(p.root / "proj/fmt.py", ":.6f", ":.3f"), {"report"}),
        # an input file, read by two steps
        (lambda p: edit(p.root / "notes.md", "first", "second\nthird"), {"notes", "report"}),
        # the same file, edited without changing its size
        (lambda p: edit(p.root / "notes.md", "first", "fifth"), {"notes", "report"}),
        # the step's own definition
        (
            lambda p: edit(p.root / "mlcd.yaml", "wc -l < notes.md", "wc -l <notes.md"),
            {"notes"},
        ),
    ],
    ids=[
        "param",
        "callable-code",
        "module-code",
        "script-code",
        "deps",
        "input-file",
        "input-file-same-size",
        "definition",
    ],
)
def test_a_change_reruns_exactly_the_affected_steps(
    project: Project, change: Any, reran: set[str]
) -> None:
    options = change(project) or {}
    result = project.run(**options)
    assert result.status == "succeeded", [s.error for s in result.steps]
    assert statuses(result) == {
        name: "succeeded" if name in reran else "cached" for name in ALL_CACHED
    }
    # and the run after it is all cached again
    assert statuses(project.run(**options)) == ALL_CACHED


def test_a_new_dataset_version_reruns_its_readers(project: Project) -> None:
    ws = project.ws()
    new = write_partitions(project.root / "data" / "more", ["2024-02-01"], rows=10, seed=3)
    assert ws.snapshot("sales", new).version.ref == "sales@2"
    result = project.run("prepare")
    assert statuses(result) == {"prepare": "succeeded"}
    assert (project.root / "features" / "source.txt").read_text() == "sales@2 10\n"
    assert project.ws().get_run(result.run_id).inputs["datasets.sales@latest"]["ref"] == "sales@2"


def test_a_new_seed_reruns_every_step_and_the_old_one_is_still_cached(project: Project) -> None:
    # (train and report would rerun too: the seed is in every key; two show it at less cost)
    result = project.run("notes", "prepare", seed=7)
    assert statuses(result) == {"notes": "succeeded", "prepare": "succeeded"}
    assert statuses(project.run()) == ALL_CACHED  # seed 42 from mlcd.yaml
    assert statuses(project.run("notes", "prepare", seed=7)) == {
        "notes": "cached",
        "prepare": "cached",
    }


def test_a_new_environment_reruns_every_step(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = env_module.capture_environment()
    changed = replace(captured, packages={**captured.packages, "numpy": "0.0.1"})
    monkeypatch.setattr(env_module, "capture_environment", lambda: changed)
    result = project.run("notes")
    assert statuses(result) == {"notes": "succeeded"}
    assert project.ws().get_run(result.run_id).env_lock == changed.lock_hash != captured.lock_hash


def test_force_reruns_with_identical_outputs(project: Project) -> None:
    before = snapshot_files(project.root, OUTPUTS)
    result = project.run("notes", "prepare", force=True)
    assert statuses(result) == {"notes": "succeeded", "prepare": "succeeded"}
    assert snapshot_files(project.root, OUTPUTS) == before
    # what reads them finds its inputs unchanged
    assert statuses(project.run()) == ALL_CACHED


def blobs_of(project: Project, name: str) -> dict[str, str]:
    """The blobs of a step's outputs in the project's first run: file path -> blob, and the
    trees of folders as `<folder>/`."""
    ws = project.ws()
    rec = next(s for s in ws.get_run(project.first_run).steps if s.step == name)
    found = {}
    for raw in rec.outputs.values():
        stored = StoredPath.from_dict(raw)
        if stored.kind == "dir":
            found[stored.path + "/"] = stored.blob
        for rel, blob, _ in tree_files(ws.store, stored):
            found[f"{stored.path}/{rel}" if rel else stored.path] = blob
    return found


@pytest.mark.parametrize(
    ("name", "which", "folder"),
    [
        ("prepare", "features/amounts.json", "features"),
        ("prepare", "features/", "features"),
        ("train", "metrics.json", "model"),
    ],
)
def test_a_step_whose_blobs_left_the_store_is_rerun_not_restored(
    project: Project, name: str, which: str, folder: str
) -> None:
    blobs = blobs_of(project, name)
    blobs["metrics.json"] = hash_file(project.root / "metrics.json")
    assert which in blobs
    project.ws().store.path_of(blobs[which]).unlink()  # type: ignore[attr-defined]
    shutil.rmtree(project.root / folder)
    (project.root / "metrics.json").unlink()
    result = project.run()
    # the step runs again; what reads its outputs finds them unchanged
    assert statuses(result) == {**ALL_CACHED, name: "succeeded"}
    assert (project.root / folder).is_dir() and (project.root / "metrics.json").is_file()
    # the rerun stored its outputs again: the next run restores them
    shutil.rmtree(project.root / folder)
    (project.root / "metrics.json").unlink()
    assert statuses(project.run()) == ALL_CACHED
    assert (project.root / folder).is_dir() and (project.root / "metrics.json").is_file()


def test_nested_files_and_empty_folders_are_restored(bare: Project) -> None:
    bare.configure(
        {
            "a": {
                "run": "sh -c 'mkdir -p out/deep/er empty && echo x > out/deep/er/x.txt'",
                "outputs": {"out": "out", "empty": "empty"},
            },
            "b": {
                "run": "sh -c 'mkdir -p reports/2024 && echo r > reports/2024/r.txt'",
                "outputs": {"r": "reports/2024/r.txt"},
            },
        }
    )
    assert bare.run().status == "succeeded"
    for rel in ("out", "empty", "reports"):
        shutil.rmtree(bare.root / rel)
    assert statuses(bare.run()) == {"a": "cached", "b": "cached"}
    assert (bare.root / "out" / "deep" / "er" / "x.txt").read_text() == "x\n"
    assert (bare.root / "empty").is_dir() and not any((bare.root / "empty").iterdir())
    assert (bare.root / "reports" / "2024" / "r.txt").read_text() == "r\n"


def test_a_damaged_blob_is_never_restored(project: Project) -> None:
    blob = blobs_of(project, "train")["model/weights.json"]
    path = project.ws().store.path_of(blob)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_text('{"w": 0}')
    shutil.rmtree(project.root / "model")
    try:
        result = project.run()
    except IntegrityError as exc:  # refusing the run is fine: the store needs repair
        assert blob in exc.message
    else:  # so is running the step again
        assert statuses(result)["train"] == "succeeded"
    weights = project.root / "model" / "weights.json"
    assert not weights.exists() or weights.read_text() != '{"w": 0}'


def test_a_folder_input_is_keyed_by_every_file_in_it(bare: Project) -> None:
    bare.write("raw/a.csv", "x\n1\n")
    bare.write("raw/sub/b.csv", "x\n2\n")
    bare.configure(
        {
            "count": {
                "run": "sh -c 'cat raw/a.csv raw/sub/*.csv | wc -l > n.txt'",
                "inputs": ["raw/"],
                "outputs": {"n": "n.txt"},
            }
        }
    )
    assert statuses(bare.run()) == {"count": "succeeded"}
    assert statuses(bare.run()) == {"count": "cached"}
    bare.write("raw/sub/b.csv", "x\n3\n")  # same size, other content
    assert statuses(bare.run()) == {"count": "succeeded"}
    bare.write("raw/sub/c.csv", "x\n")  # a new file
    assert statuses(bare.run()) == {"count": "succeeded"}
    assert (bare.root / "n.txt").read_text().strip() == "5"
    (bare.root / "raw" / "sub" / "c.csv").rename(bare.root / "raw" / "c.csv")  # moved
    assert statuses(bare.run()) == {"count": "succeeded"}
    (bare.root / "raw" / "__pycache__").mkdir()
    (bare.root / "raw" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert statuses(bare.run()) == {"count": "cached"}  # byte code is not content


# -- failures --------------------------------------------------------------------------------

FAIL = """\
import sys
from pathlib import Path

Path("bad.txt").write_text("partial")
print("working on it")
print("boom: the data is wrong", file=sys.stderr)
sys.exit(1)
"""

FAILING = {
    "bad": {"run": "python fail.py", "outputs": {"out": "bad.txt"}},
    "after": {
        "run": "sh -c 'cat bad.txt > after.txt'",
        "inputs": ["steps.bad.out"],
        "outputs": {"out": "after.txt"},
    },
    "ok": {"run": "sh -c 'echo fine > ok.txt'", "outputs": {"out": "ok.txt"}},
}


def test_a_failing_step_caches_nothing_and_skips_its_downstream(bare: Project) -> None:
    bare.write("fail.py", FAIL)
    bare.configure(FAILING)
    result = bare.run()
    assert result.status == "failed"
    assert statuses(result) == {"bad": "failed", "ok": "succeeded", "after": "skipped"}
    bad = step(result, "bad")
    assert bad.error == "exited with code 1: boom: the data is wrong"
    assert step(result, "after").error == "bad did not succeed"
    assert [s.step for s in result.failed] == ["bad"]
    assert (bare.root / "ok.txt").read_text() == "fine\n"  # the independent step ran
    assert not (bare.root / "after.txt").exists()

    ws = bare.ws()
    run = ws.get_run(result.run_id)
    assert run.status == "failed"
    assert run.error == "bad: exited with code 1: boom: the data is wrong"
    assert run.ended_at is not None
    assert {s.step: s.status for s in run.steps} == statuses(result)
    assert ws.logs(result.run_id, "bad", "stderr") == b"boom: the data is wrong\n"
    assert ws.logs(result.run_id, "bad") == b"working on it\n"
    assert ws.logs(result.run_id, "after") == b""  # never started

    # nothing was cached: the next run executes it again, the independent step is cached
    again = bare.run()
    assert statuses(again) == {"bad": "failed", "ok": "cached", "after": "skipped"}
    # fixed, it runs, and so does what depends on it
    bare.write("fail.py", 'from pathlib import Path\nPath("bad.txt").write_text("good")\n')
    fixed = bare.run()
    assert fixed.status == "succeeded"
    assert statuses(fixed) == {"bad": "succeeded", "ok": "cached", "after": "succeeded"}
    assert (bare.root / "after.txt").read_text() == "good"


@pytest.mark.parametrize(
    ("run", "error"),
    [
        ("sh -c 'exit 3'", "exited with code 3"),
        ("kill -9 $$", "killed by signal 9"),
        ("no-such-command-here", "exited with code 127: "),
        ("proj.steps:nope", "exited with code 1: error: proj.steps has no function 'nope'"),
        (
            "proj.steps:nan",
            "exited with code 1: mlcd.errors.MlcdError: metric 'loss' is nan, not a finite number",
        ),
        ("sh -c true", "output 'out.txt' was not written"),
    ],
    ids=["exit-3", "signal", "not-found", "no-function", "raises", "no-output"],
)
def test_step_failures_are_reported_clearly(bare: Project, run: str, error: str) -> None:
    bare.write("proj/__init__.py", "")
    bare.write(
        "proj/steps.py", "import mlcd\n\ndef nan():\n    mlcd.log_metric('loss', float('nan'))\n"
    )
    bare.configure({"a": {"run": run, "outputs": {"out": "out.txt"}}})
    result = bare.run()
    assert result.status == "failed"
    a = step(result, "a")
    assert a.status == "failed"
    assert a.error is not None and a.error.startswith(error), a.error
    assert a.outputs == {}


def test_a_metrics_file_that_is_missing_or_not_json_fails_the_step(bare: Project) -> None:
    bare.configure(
        {
            "a": {"run": "sh -c 'echo 1 > a.txt'", "outputs": {"o": "a.txt"}, "metrics": "m.json"},
            "b": {"run": "sh -c 'echo {oops > b.json'", "metrics": "b.json"},
        }
    )
    result = bare.run()
    assert step(result, "a").error == "metrics file 'm.json' was not written"
    assert (step(result, "b").error or "").startswith("metrics file 'b.json' is not JSON")
    assert statuses(bare.run()) == {"a": "failed", "b": "failed"}


def test_a_missing_input_file_fails_the_step(bare: Project) -> None:
    bare.configure({"a": {"run": "sh -c 'cat in.txt > out.txt'", "inputs": ["in.txt"]}})
    result = bare.run()
    assert step(result, "a").status == "failed"
    assert step(result, "a").error == "input 'in.txt' of step a does not exist"


def test_stale_outputs_are_removed_before_a_step_runs(bare: Project) -> None:
    # a step that writes only some files of its folder must not inherit the others
    (bare.root / "out").mkdir()
    (bare.root / "out" / "stale.txt").write_text("from an older run")
    bare.configure({"a": {"run": "sh -c 'echo new > out/new.txt'", "outputs": {"o": "out"}}})
    result = bare.run()
    assert result.status == "failed"  # the step assumed out/ exists: it was cleared
    bare.configure(
        {"a": {"run": "sh -c 'mkdir -p out && echo new > out/new.txt'", "outputs": {"o": "out"}}}
    )
    result = bare.run()
    assert result.status == "succeeded"
    assert sorted(p.name for p in (bare.root / "out").iterdir()) == ["new.txt"]


# -- seeds -----------------------------------------------------------------------------------

RANDOM_STEP = """\
import json
import random
from pathlib import Path

import numpy as np


def main():
    Path("draws.json").write_text(
        json.dumps({"random": random.random(), "numpy": np.random.rand(3).tolist(),
                    "hash": hash("mlcd")})
    )
"""


def test_seeds_reach_shell_and_python_steps(bare: Project) -> None:
    bare.write("proj/__init__.py", "")
    bare.write("proj/draw.py", RANDOM_STEP)
    bare.configure(
        {
            "shell": {
                "run": "sh -c 'echo $MLCD_SEED $PYTHONHASHSEED > seed.txt'",
                "outputs": {"o": "seed.txt"},
            },
            "draw": {"run": "proj.draw:main", "outputs": {"o": "draws.json"}},
        },
        seed=11,
    )
    names = ["seed.txt", "draws.json"]

    assert bare.run().status == "succeeded"
    first = snapshot_files(bare.root, names)
    assert first["seed.txt"] == b"11 11\n"
    assert bare.run(force=True).status == "succeeded"
    assert snapshot_files(bare.root, names) == first  # same seed, same draws, same str hash

    random.seed(11)
    np.random.seed(11)
    draws = json.loads(first["draws.json"])
    assert draws["random"] == random.random()
    assert draws["numpy"] == np.random.rand(3).tolist()

    assert bare.run(seed=7).status == "succeeded"
    seven = snapshot_files(bare.root, names)
    assert seven["seed.txt"] == b"7 7\n"
    assert json.loads(seven["draws.json"])["random"] != draws["random"]
    assert json.loads(seven["draws.json"])["hash"] != draws["hash"]  # PYTHONHASHSEED
    assert bare.ws().get_run("latest").seed == 7


def test_seed_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # deterministic_torch=False: torch's deterministic mode is global to this test process
    def seed(value: int | None = None) -> int:
        return mlcd.seed_everything(value, deterministic_torch=False)

    monkeypatch.setenv("PYTHONHASHSEED", "0")  # restored after the test
    assert seed(123) == 123
    a = (random.random(), np.random.rand())
    assert os.environ["PYTHONHASHSEED"] == "123"  # for the processes a script starts
    seed(123)
    assert (random.random(), np.random.rand()) == a
    seed(124)
    assert (random.random(), np.random.rand()) != a
    monkeypatch.setenv("MLCD_SEED", "123")
    assert seed() == 123  # the run's seed by default
    assert (random.random(), np.random.rand()) == a
    monkeypatch.delenv("MLCD_SEED")
    assert seed() == 0
    assert seed(2**40) == 2**40  # numpy takes 32 bits; no error
    if importlib.util.find_spec("torch") is not None:
        import torch

        seed(5)
        t = torch.rand(3)
        seed(5)
        assert torch.equal(torch.rand(3), t)


# -- determinism -----------------------------------------------------------------------------

NOISY = """\
import random
import time
from pathlib import Path

random.seed(time.time_ns())
out = Path("noisy")
out.mkdir(exist_ok=True)
(out / "same.txt").write_text("constant\\n")
(out / "rand.txt").write_text(str(random.random()))
"""


def test_check_determinism_names_the_differing_file_and_caches_nothing(bare: Project) -> None:
    bare.write("noisy.py", NOISY)
    bare.configure(
        {
            "noisy": {"run": "python noisy.py", "outputs": {"out": "noisy"}},
            "steady": {
                "run": "sh -c 'echo $MLCD_SEED > steady.txt'",
                "outputs": {"o": "steady.txt"},
            },
            "after": {
                "run": "sh -c 'cat noisy/rand.txt > after.txt'",
                "inputs": ["steps.noisy.out"],
                "outputs": {"o": "after.txt"},
            },
        }
    )
    result = bare.run(check_determinism=True)
    assert result.status == "failed"
    assert statuses(result) == {
        "noisy": "nondeterministic",
        "steady": "succeeded",
        "after": "skipped",
    }
    noisy = step(result, "noisy")
    assert noisy.differing == ("noisy/rand.txt",)
    assert noisy.error == "outputs differ between two runs: noisy/rand.txt"
    assert [s.step for s in result.failed] == ["noisy"]
    assert bare.ws().get_run(result.run_id).status == "failed"
    assert not list((bare.root / ".mlcd" / "tmp").glob("determinism-*"))  # scratch cleaned up

    again = bare.run()
    assert statuses(again) == {"noisy": "succeeded", "steady": "cached", "after": "succeeded"}


def test_check_determinism_passes_a_deterministic_step(project: Project) -> None:
    result = project.run("prepare", force=True, check_determinism=True)
    assert result.status == "succeeded"
    assert statuses(result) == {"prepare": "succeeded"}
    assert step(result, "prepare").differing == ()


# -- inputs pinned at run start --------------------------------------------------------------

SNAPSHOTTER = """\
from pathlib import Path

import mlcd

version = mlcd.snapshot("sales", "data/sales_v2").version
Path("snapped.txt").write_text(version.ref)
"""

READER = """\
import os
from pathlib import Path

import mlcd

sales = mlcd.inputs()["sales"]
Path("read.txt").write_text(
    f"{sales.version.ref} {sales.to_arrow().num_rows} {os.environ['MLCD_INPUT_SALES']}"
)
"""


def test_a_snapshot_made_during_the_run_is_not_read_by_it(project: Project) -> None:
    write_partitions(project.root / "data" / "sales_v2", ["2024-03-01"], rows=7, seed=9)
    project.write("snapshotter.py", SNAPSHOTTER)
    project.write("reader.py", READER)
    project.configure(
        {
            "snap": {"run": "python snapshotter.py", "outputs": {"done": "snapped.txt"}},
            "read": {
                "run": "python reader.py",
                "inputs": ["steps.snap.done", "datasets.sales@latest"],
                "outputs": {"out": "read.txt"},
            },
        }
    )
    result = project.run()
    assert result.status == "succeeded", [s.error for s in result.steps]
    assert (project.root / "snapped.txt").read_text() == "sales@2"  # made while the run ran
    assert (project.root / "read.txt").read_text() == "sales@1 300 sales@1"  # still @1
    run = project.ws().get_run(result.run_id)
    assert run.inputs["datasets.sales@latest"]["ref"] == "sales@1"
    assert (
        run.inputs["datasets.sales@latest"]["content_id"]
        == project.ws().version("sales@1").content_id
    )
    # the next run pins the new version
    result = project.run("read")
    assert statuses(result) == {"snap": "cached", "read": "succeeded"}
    assert (project.root / "read.txt").read_text() == "sales@2 7 sales@2"


def test_a_pinned_version_number_is_read_as_given(project: Project) -> None:
    write_partitions(project.root / "data" / "sales_v2", ["2024-03-01"], rows=7, seed=9)
    project.ws().snapshot("sales", project.root / "data" / "sales_v2")
    project.write("reader.py", READER)
    project.configure(
        {
            "read": {
                "run": "python reader.py",
                "inputs": ["datasets.sales@1"],
                "outputs": {"o": "read.txt"},
            }
        }
    )
    assert project.run().status == "succeeded"
    assert (project.root / "read.txt").read_text() == "sales@1 300 sales@1"


# -- parallel steps --------------------------------------------------------------------------

STAMP = """\
import json
import sys
import time
from pathlib import Path

start = time.time()
time.sleep(float(sys.argv[2]))
Path(sys.argv[1] + ".json").write_text(json.dumps({"start": start, "end": time.time()}))
"""


@pytest.mark.slow
def test_independent_steps_run_side_by_side_with_jobs_2(bare: Project) -> None:
    bare.write("stamp.py", STAMP)
    bare.configure(
        {
            "a": {"run": "python stamp.py a 1.5", "outputs": {"o": "a.json"}},
            "b": {"run": "python stamp.py b 1.5", "outputs": {"o": "b.json"}},
            "c": {
                "run": "python stamp.py c 0",
                "inputs": ["steps.a.o", "steps.b.o"],
                "outputs": {"o": "c.json"},
            },
        }
    )
    result = bare.run(jobs=2)
    assert result.status == "succeeded"
    t = {n: json.loads((bare.root / f"{n}.json").read_text()) for n in "abc"}
    assert t["a"]["start"] < t["b"]["end"] and t["b"]["start"] < t["a"]["end"]  # overlap
    assert t["c"]["start"] >= max(t["a"]["end"], t["b"]["end"])  # waited for both

    result = bare.run(jobs=1, force=True)
    t = {n: json.loads((bare.root / f"{n}.json").read_text()) for n in "abc"}
    first, second = sorted("ab", key=lambda n: t[n]["start"])
    assert t[second]["start"] >= t[first]["end"]  # one at a time


def test_with_jobs_2_a_failure_still_skips_only_its_downstream(bare: Project) -> None:
    bare.write("fail.py", FAIL)
    bare.configure(FAILING)
    result = bare.run(jobs=2)
    assert statuses(result) == {"bad": "failed", "ok": "succeeded", "after": "skipped"}


# -- git -------------------------------------------------------------------------------------


@pytest.fixture
def repo(bare: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The bare workspace as a git repository with one commit, outputs ignored."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    bare.configure({"a": {"run": "sh -c 'echo a > out.txt'", "outputs": {"o": "out.txt"}}})
    with (bare.root / ".gitignore").open("a") as f:
        f.write("out.txt\n")
    git(bare.root, "init", "-q", "-b", "main")
    git(bare.root, "add", ".")
    git(bare.root, "commit", "-q", "-m", "first")
    return bare


def test_require_clean_runs_on_a_clean_tree_and_records_the_commit(repo: Project) -> None:
    result = repo.run(require_clean=True)
    assert result.status == "succeeded"
    recorded = repo.ws().get_run(result.run_id).git
    assert recorded is not None
    assert recorded["commit"] == git(repo.root, "rev-parse", "HEAD")
    assert recorded["branch"] == "main"
    assert recorded["dirty"] is False and recorded["diff_hash"] is None
    assert repo.run(require_clean=True).status == "succeeded"  # its own output is ignored


def test_require_clean_refuses_a_dirty_tree(repo: Project) -> None:
    (repo.root / "params.yaml").write_text("x: 1\n")
    with pytest.raises(DirtyWorkTreeError) as info:
        repo.run(require_clean=True)
    assert info.value.message == "the work tree has uncommitted changes: params.yaml"
    assert info.value.hint is not None and "commit or stash" in info.value.hint
    assert repo.ws().runs() == []  # refused before anything was recorded
    # without the flag it runs, and records what the code was
    result = repo.run()
    recorded = repo.ws().get_run(result.run_id).git
    assert recorded is not None and recorded["dirty"] is True
    assert recorded["changes"] == ["params.yaml"]
    assert recorded["diff_hash"].startswith("b3:")


def test_an_untracked_file_makes_the_tree_dirty(repo: Project) -> None:
    (repo.root / "new_step.py").write_text("print()\n")
    with pytest.raises(DirtyWorkTreeError, match=r"new_step\.py"):
        repo.run(require_clean=True)


def test_outside_git_the_run_records_no_git(
    bare: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    bare.configure({"a": {"run": "true"}})
    result = bare.run()
    assert result.status == "succeeded"
    assert bare.ws().get_run(result.run_id).git is None
    with pytest.raises(DirtyWorkTreeError, match="there is no git repository"):
        bare.run(require_clean=True)


# -- the run context API ---------------------------------------------------------------------

CONTEXT_STEP = """\
import json
import os
from pathlib import Path

import mlcd


def main(ctx):
    assert ctx == mlcd.current_run()
    mlcd.log_metric("acc", 0.5, step=0)
    mlcd.log_metric("acc", 0.75, step=1)
    mlcd.log_metric("auc", 0.9)
    mlcd.log_param("chosen_depth", 4)
    Path("ctx.json").write_text(json.dumps({
        "run_id": ctx.run_id, "step": ctx.step, "seed": ctx.seed, "params": mlcd.params(),
        "outputs": ctx.outputs, "workspace": ctx.workspace, "cwd": os.getcwd(),
        "inputs": {k: str(v) for k, v in mlcd.inputs().items()},
        "env_run": os.environ["MLCD_RUN_ID"], "env_out": os.environ["MLCD_OUTPUT_CTX"],
    }))
    Path("m.json").write_text(json.dumps({"acc": 0.8, "nested": {"f1": 0.7}, "note": "text",
                                           "flag": True}))
"""


def test_a_step_sees_its_run_and_logs_metrics(project: Project) -> None:
    project.write("proj/ctx.py", CONTEXT_STEP)
    steps = {
        "prepare": {
            k: v
            for k, v in dataclasses.asdict(project.ws().config.steps["prepare"]).items()
            if v is not None
        },
        "ctx": {
            "run": "proj.ctx:main",
            "inputs": ["steps.prepare.features"],
            "params": ["train.lr"],
            "outputs": {"ctx": "ctx.json"},
            "metrics": "m.json",
        },
    }
    project.configure(steps)
    result = project.run()
    assert result.status == "succeeded", [s.error for s in result.steps]
    seen = json.loads((project.root / "ctx.json").read_text())
    assert seen["run_id"] == seen["env_run"] == result.run_id
    assert seen["step"] == "ctx" and seen["seed"] == 42
    assert seen["params"] == {"train.lr": 0.01}
    assert seen["outputs"] == {"ctx": "ctx.json"} and seen["env_out"] == "ctx.json"
    assert Path(seen["workspace"]) == Path(seen["cwd"]) == project.root
    assert seen["inputs"] == {"prepare.features": str(project.root / "features")}

    ctx = step(result, "ctx")
    # the metrics file wins over a logged metric of the same name; non-numbers are left out
    assert ctx.metrics == {"acc": 0.8, "auc": 0.9, "nested.f1": 0.7}
    rec = next(s for s in project.ws().get_run(result.run_id).steps if s.step == "ctx")
    logged = [(r["type"], r["name"], r["value"], r.get("step")) for r in rec.logged]
    assert logged == [
        ("metric", "acc", 0.5, 0),
        ("metric", "acc", 0.75, 1),
        ("metric", "auc", 0.9, None),
        ("param", "chosen_depth", 4, None),
    ]
    # restored from the cache, the step keeps its metrics
    assert step(project.run(), "ctx").metrics == ctx.metrics


def test_a_shell_step_reads_its_params_and_outputs_from_the_environment(bare: Project) -> None:
    (bare.root / "params.yaml").write_text("train:\n  lr: 0.1\n  epochs: 2\n")
    bare.configure(
        {
            "a": {
                "run": 'sh -c \'echo "$MLCD_PARAMS" > "$MLCD_OUTPUT_PARAMS"\'',
                "params": ["train.lr"],
                "outputs": {"params": "p.json"},
            }
        }
    )
    assert bare.run(overrides=["train.lr=0.5"]).status == "succeeded"
    assert json.loads((bare.root / "p.json").read_text()) == {"train.lr": 0.5}


def test_the_context_api_outside_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCD_CONTEXT", raising=False)
    assert mlcd.current_run() is None
    with pytest.raises(MlcdError, match="not inside an mlcd run"):
        mlcd.log_metric("acc", 0.5)
    with pytest.raises(MlcdError, match="not inside an mlcd run"):
        mlcd.log_param("depth", 3)
    with pytest.raises(MlcdError, match="not inside an mlcd run"):
        mlcd.params()
    with pytest.raises(MlcdError, match="not inside an mlcd run"):
        mlcd.inputs()


# -- keys ------------------------------------------------------------------------------------


def test_code_files_of_a_step(project: Project) -> None:
    (project.root / "src" / "lib").mkdir(parents=True)
    (project.root / "src" / "lib" / "__init__.py").write_text("")
    (project.root / "src" / "lib" / "__main__.py").write_text("")
    steps = {
        "m": {"run": "python -m proj.prepare --fast"},
        "c": {"run": "proj.train:main", "deps": ["proj/fmt.py"]},
        "s": {"run": "python report.py notes.md"},
        "p": {"run": "python -m lib"},
        "i": {"run": "python -m json.tool x.json"},  # installed: the env lock covers it
    }
    from mlcd.config import StepConfig

    p = build_pipeline({n: StepConfig(**raw) for n, raw in steps.items()}, {})
    files = {name: code_files(p.steps[name], project.root) for name in steps}
    assert files == {
        "m": ["proj/prepare.py"],
        "c": ["proj/fmt.py", "proj/train.py"],
        "s": ["notes.md", "report.py"],
        "p": ["src/lib/__init__.py", "src/lib/__main__.py"],
        "i": [],
    }


def test_a_run_id_prefix_is_found_in_any_case_on_every_db(bare: Project) -> None:
    bare.configure({"hello": {"run": "sh -c 'echo hi > hi.txt'", "outputs": {"hi": "hi.txt"}}})
    run_id = bare.run().run_id
    assert bare.ws().get_run(run_id[:17].upper()).id == run_id
