"""Interrupting or killing `mlcd data snapshot` mid-ingest leaves the previous state intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.store import hash_file
from mlcd.workspace import Workspace
from tests.cli.conftest import files_under, mlcd
from tests.conftest import age, write_partitions

pytestmark = pytest.mark.slow

FILES = 240
ROWS = 5
CELL = 250_000  # bytes of random payload per row: 240 files of 1.25 MB, 300 MB in all


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 Parquet files of incompressible bytes: long enough to ingest to be interrupted."""
    root = tmp_path_factory.mktemp("big")
    for i in range(FILES):
        folder = root / f"part={i:03d}"
        folder.mkdir()
        table = pa.table(
            {
                "id": pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64()),
                "payload": pa.array([os.urandom(CELL) for _ in range(ROWS)], pa.binary()),
            }
        )
        pq.write_table(table, folder / "data.parquet", compression="none")
    age(root)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace whose dataset `sales` has exactly one version."""
    with Workspace.init(tmp_path / "ws") as ws:
        result = ws.snapshot("sales", write_partitions(ws.root / "data", ["2024-01-01"]))
        assert result.version.ref == "sales@1"
    return tmp_path / "ws"


def started_writing(root: Path, before: set[str]) -> bool:
    objects = root / ".mlcd" / "objects"
    return bool(files_under(objects / "tmp")) or bool(set(files_under(objects / "b3")) - before)


def interrupt(root: Path, source: Path, how: signal.Signals) -> subprocess.CompletedProcess[str]:
    """Start a snapshot of `source`, wait until it writes blobs, then send it `how`."""
    before = set(files_under(root / ".mlcd" / "objects" / "b3"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcd", "data", "snapshot", "sales", str(source)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started_writing(root, before):
            assert proc.poll() is None, f"snapshot ended before it was interrupted: {proc.stderr}"
            assert time.monotonic() < deadline, "snapshot never started writing"
            time.sleep(0.002)
        proc.send_signal(how)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_intact(root: Path) -> None:
    """Still exactly sales@1, readable, and every stored blob is whole."""
    log = mlcd("data", "log", "sales", "--json", cwd=root).json()
    assert [v["ref"] for v in log] == ["sales@1"]
    shown = mlcd("data", "show", "sales@1", "--json", cwd=root).json()
    assert [f["path"] for f in shown["file_list"]] == ["date=2024-01-01/part-0.parquet"]
    b3 = root / ".mlcd" / "objects" / "b3"
    blobs = [b3 / rel for rel in files_under(b3)]
    assert blobs
    for blob in blobs:
        assert hash_file(blob) == f"b3:{blob.parent.name}{blob.name}", f"{blob} is not whole"


def assert_recovers(root: Path, source: Path) -> None:
    v2 = mlcd("data", "snapshot", "sales", source, "--json", cwd=root).json()
    assert (v2["ref"], v2["parent"], v2["files"], v2["created"]) == ("sales@2", 1, FILES, True)
    assert v2["rows"] == FILES * ROWS
    log = mlcd("data", "log", "sales", "--json", cwd=root).json()
    assert [v["ref"] for v in log] == ["sales@2", "sales@1"]
    shown = mlcd("data", "show", "sales@2", "--json", cwd=root).json()
    for f in shown["file_list"][:: FILES // 8]:
        assert f["blob"] == hash_file(source / f["path"])


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted(root: Path, big: Path, how: signal.Signals) -> None:
    objects = root / ".mlcd" / "objects"
    before = set(files_under(objects / "b3"))
    r = interrupt(root, big, how)
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip() == "interrupted"
    assert r.stdout == ""
    assert_intact(root)
    # staged copies are discarded: no new blob, no temporary file left behind
    assert set(files_under(objects / "b3")) == before and files_under(objects / "tmp") == []
    assert_recovers(root, big)


def test_killed(root: Path, big: Path) -> None:
    r = interrupt(root, big, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    assert_intact(root)  # a half-written temp file may remain, but never a blob
    assert_recovers(root, big)
