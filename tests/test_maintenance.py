"""`mlcd fsck`: every blob the metadata DB refers to is found and re-hashed; each missing or
damaged one is named with what uses it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from mlcd.errors import MlcdError
from mlcd.maintenance import fsck, gc, references
from mlcd.store import LocalObjectStore
from mlcd.store.marks import find_marks
from mlcd.workspace import Workspace
from tests.cli.conftest import assert_error
from tests.conftest import Cli
from tests.pipeline.conftest import write_config, write_params

STEP = {
    "make": {
        "run": "mkdir -p out && echo one > out/a.txt && echo two > out/b.txt && echo hi",
        "outputs": {"out": "out/"},
    }
}


@pytest.fixture
def full(ws: Workspace, sales: Path) -> Iterator[Workspace]:
    """A dataset, a run with a folder output, a registered model and a profile."""
    ws.snapshot("sales", sales)
    write_params(ws.root, {})
    write_config(ws.root, STEP)
    with Workspace(ws.root) as fresh:
        assert fresh.run().status == "succeeded"
        frame = fresh.load("sales@1").to_pandas()
        model = LinearRegression().fit(frame[["items"]], frame["amount"])
        fresh.register_model("amounts", model, example=frame[["items"]].head(5))
        fresh.profile("sales@1")
        yield fresh


def damage(ws: Workspace, blob: str) -> None:
    store = ws.store
    assert isinstance(store, LocalObjectStore)
    path = store.path_of(blob)
    path.chmod(0o644)
    path.write_bytes(b"bit rot")


def delete(ws: Workspace, blob: str) -> None:
    store = ws.store
    assert isinstance(store, LocalObjectStore)
    os.unlink(store.path_of(blob))


def blob_of(ws: Workspace, needle: str) -> str:
    refs, _ = references(ws)
    return next(b for b, used_by in refs.items() if needle in used_by)


def test_a_healthy_workspace_is_ok(full: Workspace) -> None:
    refs, problems = references(full)
    assert problems == []
    users = list(refs.values())
    assert sum("sales@1: date=" in u for u in users) == 3
    assert any("step make output out (out): a.txt" in u for u in users)
    assert any(u.endswith("step make stdout") for u in users)
    assert any(u == "amounts@1 artifact" for u in users)
    assert any(u.startswith("amounts@1 artifact: ") for u in users)
    assert any(u == "amounts@1 example" for u in users)
    assert any(u.startswith("profile of ") for u in users)
    report = fsck(full)
    assert report.ok and report.verified == report.reachable == len(refs)
    assert report.stored == report.reachable + 1 and report.unreferenced == 0  # + the mark
    (mark,) = find_marks(full.store, full.store.iter_blobs()).values()
    assert mark.database_id == full.db.id and mark.about["workspace"] == str(full.root)


def test_damaged_and_missing_blobs_are_named_with_their_users(full: Workspace) -> None:
    dataset_blob = blob_of(full, "sales@1: date=2024-01-02")
    output_blob = blob_of(full, "out (out): b.txt")
    damage(full, dataset_blob)
    delete(full, output_blob)
    full.store.put_bytes(b"nobody refers to this")
    report = fsck(full)
    found = {p.blob: p for p in report.problems}
    assert set(found) == {dataset_blob, output_blob}
    assert found[dataset_blob].kind == "corrupt" and "hashes to" in found[dataset_blob].detail
    assert found[dataset_blob].used_by == "sales@1: date=2024-01-02/part-0.parquet"
    assert found[output_blob].kind == "missing" and found[output_blob].used_by.endswith("b.txt")
    assert report.unreferenced == 1
    quick = fsck(full, verify=False)
    assert [p.blob for p in quick.problems] == [output_blob] and quick.verified == 0


def test_a_missing_folder_listing_is_reported_once(full: Workspace) -> None:
    tree = blob_of(full, "amounts@1 artifact")
    refs, _ = references(full)
    delete(full, tree)
    report = fsck(full)
    (problem,) = report.problems
    assert problem.blob == tree and problem.kind == "missing" and "folder listing" in problem.detail
    assert report.reachable < len(refs)  # the artifact's files can no longer be listed


def test_cli_fsck_exit_code_and_json(full: Workspace, cli: Cli) -> None:
    ok = cli("fsck")
    assert ok.code == 0 and "ok:" in ok.out
    damage(full, blob_of(full, "sales@1: date=2024-01-01"))
    bad = cli("fsck")
    assert bad.code == 1 and "corrupt" in bad.out and "sales@1: date=2024-01-01" in bad.out
    data = cli("fsck", "--json")
    assert data.code == 1
    summary = json.loads(data.out)
    assert summary["ok"] is False and summary["problems"][0]["problem"] == "corrupt"


# -- gc ------------------------------------------------------------------------------------


def age_blob(ws: Workspace, blob: str, seconds: float) -> None:
    store = ws.store
    assert isinstance(store, LocalObjectStore)
    past = time.time() - seconds
    os.utime(store.path_of(blob), (past, past))


def test_gc_removes_old_unreferenced_blobs_only(full: Workspace) -> None:
    old = full.store.put_bytes(b"an orphan from a crashed snapshot").blob
    young = full.store.put_bytes(b"a blob of a snapshot still in flight").blob
    age_blob(full, old, 7200)
    refs, _ = references(full)
    preview = gc(full, dry_run=True)
    assert [b for b, _ in preview.removed] == [old] and preview.kept_young == 1
    assert full.store.has(old), "a dry run removes nothing"
    report = gc(full)
    assert [b for b, _ in report.removed] == [old] and report.freed == 33
    assert not full.store.has(old) and full.store.has(young)
    assert all(full.store.has(b) for b in refs)
    assert fsck(full).ok
    assert len(full.load("sales@1").to_pandas()) == 300
    assert full.load_model("amounts@1") is not None
    assert [b for b, _ in gc(full, grace_s=0).removed] == [young]


def test_gc_removes_stale_temporary_files(full: Workspace, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"staged by a writer that was killed")
    staged = full.store.stage_file(tmp_path / "f")
    assert gc(full, grace_s=0).temp_removed == 0  # a day to commit, whatever the grace
    past = time.time() - 2 * 86400
    os.utime(staged.key, (past, past))
    assert gc(full).temp_removed == 1 and not Path(staged.key).exists()


def test_gc_refuses_when_a_folder_listing_is_unreadable(full: Workspace) -> None:
    tree = blob_of(full, "amounts@1 artifact")
    delete(full, tree)
    before = set(full.store.iter_blobs())
    with pytest.raises(MlcdError, match="gc refused: folder listing"):
        gc(full, grace_s=0)
    assert set(full.store.iter_blobs()) == before


def test_cli_gc(full: Workspace, cli: Cli) -> None:
    orphan = full.store.put_bytes(b"orphan").blob
    kept = cli("gc")
    assert kept.code == 0 and "removed 0 unreferenced blobs" in kept.out and "1 younger" in kept.out
    dry = cli("gc", "--grace", "0", "--dry-run", "--json").json()
    assert dry["dry_run"] and dry["blobs"] == [orphan] and full.store.has(orphan)
    refused = cli("gc", "--grace", "0s")  # not a terminal: deleting needs --yes
    assert refused.code == 1 and "--yes" in refused.err and full.store.has(orphan)
    done = cli("gc", "--grace", "0s", "--yes", "--json").json()
    assert done["blobs"] == [orphan] and done["bytes_freed"] == 6 and not full.store.has(orphan)
    bad = cli("gc", "--grace", "soon")
    assert bad.code == 2 and "not a duration" in bad.err


def test_fsck_repair_lets_a_snapshot_store_the_content_again(full: Workspace, sales: Path) -> None:
    blob = blob_of(full, "sales@1: date=2024-01-02")
    damage(full, blob)
    again = Workspace(full.root)
    with pytest.raises(MlcdError, match="mlcd fsck"):
        again.load("sales@1").to_pandas()
    (problem,) = fsck(full, repair=True).problems
    assert problem.kind == "corrupt" and problem.detail.endswith("; removed")
    assert not full.store.has(blob)
    assert full.snapshot("sales", sales, rehash=True).files_ingested == 3
    assert fsck(full).ok and len(full.load("sales@1").to_pandas()) == 300


@pytest.mark.slow  # a real process on a terminal
@pytest.mark.parametrize(("answer", "removed"), [("y", True), ("n", False)])
def test_cli_gc_asks_on_a_terminal(full: Workspace, answer: str, removed: bool) -> None:
    orphan = full.store.put_bytes(b"orphan").blob
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcd", "gc", "--grace", "0", "--json"],
        cwd=full.root,
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(secondary)
    os.write(primary, f"{answer}\n".encode())
    out, err = proc.communicate(timeout=60)
    os.close(primary)
    assert "remove 1 unreferenced blobs (6 B)" in err  # the question: stdout holds JSON only
    assert full.store.has(orphan) is not removed
    if removed:
        assert proc.returncode == 0 and json.loads(out)["removed"] == 1
    else:  # "no" is a refusal, not an interrupt
        assert proc.returncode == 1 and "gc not confirmed" in json.loads(out)["error"]["message"]


def test_fsck_finds_a_version_whose_file_rows_disagree(full: Workspace) -> None:
    ws_sql(full, "DELETE FROM dataset_files WHERE path LIKE 'date=2024-01-03%'")
    report = fsck(full, verify=False)
    (problem,) = report.problems
    assert problem.kind == "inconsistent" and problem.used_by == "sales@1"
    assert "2 files, 200 rows" in problem.detail and "says 3 files, 300 rows" in problem.detail


def ws_sql(ws: Workspace, sql: str) -> None:
    with ws.db.sql(write=True) as conn:
        conn.execute(sql)


def test_fsck_reports_progress_per_blob(full: Workspace) -> None:
    calls: list[tuple[int, int]] = []
    report = fsck(full, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, report.verified)] * report.verified and report.verified > 5


def sharing(root: Path, store: Path, metadata: str | None = None) -> Workspace:
    """A new workspace at `root` whose store is `store` (and metadata DB, if given)."""
    Workspace.init(root).close()
    config = root / "mlcd.yaml"
    text = config.read_text().replace("store: .mlcd/objects", f"store: {store}")
    if metadata:
        text = text.replace("metadata: sqlite:///.mlcd/mlcd.db", f"metadata: {metadata}")
    config.write_text(text)
    return Workspace(root)


def test_gc_refuses_a_store_another_metadata_db_writes_to(tmp_path: Path) -> None:
    """Two workspaces, one bucket, two DBs: each one's data is garbage to the other's gc."""
    shared = tmp_path / "shared"
    with sharing(tmp_path / "a", shared) as a, sharing(tmp_path / "b", shared) as b:
        a.snapshot("mine", pd.DataFrame({"x": [1, 2]}))
        b.snapshot("theirs", pd.DataFrame({"y": [3, 4]}))
        before = sorted(a.store.iter_blobs())
        with pytest.raises(MlcdError, match=f"also used by 1 other metadata DB.*{b.db.id}") as e:
            gc(a, grace_s=0)
        assert f"workspace {b.root}" in str(e.value)  # which one it is, not only its id
        assert sorted(a.store.iter_blobs()) == before  # nothing removed
        assert fsck(b).ok
        report = gc(a, grace_s=0, forget_other_dbs=True)
        assert len(report.removed) == 2  # b's file and b's mark
        assert not fsck(b).ok and fsck(a).ok
        assert a.load("mine").to_pandas()["x"].tolist() == [1, 2]


def test_workspaces_sharing_one_metadata_db_collect_together(tmp_path: Path) -> None:
    shared, db = tmp_path / "shared", f"sqlite:///{tmp_path / 'team.db'}"
    with sharing(tmp_path / "a", shared, db) as a, sharing(tmp_path / "b", shared, db) as b:
        a.snapshot("mine", pd.DataFrame({"x": [1, 2]}))
        b.snapshot("theirs", pd.DataFrame({"y": [3, 4]}))
        assert a.db.id == b.db.id
        assert gc(a, grace_s=0).removed == []
        assert fsck(b).ok and fsck(a).ok


def test_cli_gc_forget_other_dbs(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    with sharing(tmp_path / "a", shared) as a, sharing(tmp_path / "b", shared) as b:
        a.snapshot("mine", pd.DataFrame({"x": [1]}))
        b.snapshot("theirs", pd.DataFrame({"y": [2]}))
    monkeypatch.chdir(tmp_path / "a")
    assert_error(cli("gc", "--grace", "0", "--yes"), "other metadata DB")
    r = cli("gc", "--grace", "0", "--yes", "--forget-other-dbs", "--json")
    assert r.code == 0 and json.loads(r.out)["removed"] == 2


def test_gc_keeps_an_orphan_blob_a_new_snapshot_reuses_meanwhile(ws: Workspace) -> None:
    """A blob left by a snapshot that never committed, known to the stat index: a new snapshot
    reusing it while gc runs makes it young, so gc's delete keeps it."""
    src = ws.root / "d"
    src.mkdir()
    pd.DataFrame({"a": range(100)}).to_parquet(src / "x.parquet")
    os.utime(src / "x.parquet", (time.time() - 3600,) * 2)
    blob = ws.snapshot("lost", src).version.files[0].blob
    with ws.db.sql(write=True) as conn:  # as if that snapshot had never committed
        conn.execute("DELETE FROM dataset_files")
        conn.execute("DELETE FROM dataset_versions")
        conn.execute("DELETE FROM datasets")
    path = ws.store.path_of(blob)  # type: ignore[attr-defined]
    os.utime(path, (1, 1))  # old: gc's to collect
    refs, _ = references(ws)
    assert blob not in refs  # gc has listed it as garbage
    reused = ws.snapshot("kept", src)
    assert reused.version.files[0].blob == blob and reused.files_reused == 1
    assert ws.store.collect(blob, before=time.time() - 60) is None  # gc's delete comes later
    assert fsck(ws).ok


def test_a_store_that_is_the_workspace_folder_is_refused(tmp_path: Path, cli: Cli) -> None:
    for location in ("", ".", ".."):
        root = tmp_path / f"ws{len(location)}"
        Workspace.init(root).close()
        config = root / "mlcd.yaml"
        config.write_text(
            config.read_text().replace("store: .mlcd/objects", f'store: "{location}"')
        )
        with pytest.raises(MlcdError, match="is the workspace folder or one holding it"):
            Workspace(root).store  # noqa: B018 - opening it is what is refused


@pytest.mark.parametrize("grace", ["abc", "-1", "10x", "nan", "inf", "1e999h"])
def test_gc_refuses_a_grace_that_is_no_duration(full: Workspace, cli: Cli, grace: str) -> None:
    r = cli("gc", "--grace", grace, "--yes", "--json")
    assert r.code == 2 and "is not a duration" in r.err
    assert json.loads(r.out)["error"]["type"] == "UsageError"  # scripts get JSON even so


@pytest.mark.parametrize(("grace", "seconds"), [("0", 0), ("90", 90), ("10m", 600), ("2d", 172800)])
def test_durations(grace: str, seconds: float) -> None:
    from mlcd.cli.store import parse_duration

    assert parse_duration(grace) == seconds
