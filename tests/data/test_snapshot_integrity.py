"""A version's facts describe its stored bytes, and a refused snapshot stores nothing: files
changing under a snapshot, append refusals, partition types, CSV/JSON typing, empty JSON lines,
duplicate columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.errors import SourceError
from mlcd.workspace import Workspace
from tests.conftest import age

BOTH_DBS = pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]
)


def stored_blobs(ws: Workspace) -> set[str]:
    return set(ws.store.iter_blobs())


def parquet(path: Path, **columns: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    age(path)
    return path


# -- 1. facts are read from the source after the copy: the file must not have moved meanwhile --


def test_a_file_appended_to_between_copy_and_read_is_refused(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcd.data import snapshot
    from mlcd.data.facts import read_all

    src = ws.root / "race"
    src.mkdir()
    target = src / "f.csv"
    target.write_text("a,b\n" + "1,2\n" * 1000)
    age(target)

    def append_then_read(*args: object, **kwargs: object) -> object:
        with target.open("a") as f:  # the copy is done; the writer is not
            f.write("3,4\n" * 10)
        return read_all(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "read_all", append_then_read)
    with pytest.raises(SourceError, match=r"f\.csv changed while it was being snapshotted"):
        ws.snapshot("race", src)
    assert stored_blobs(ws) == set() and ws.datasets() == []

    monkeypatch.setattr(snapshot, "read_all", read_all)
    age(target)
    v = ws.snapshot("race", src).version  # once the writer is done: facts and blob agree
    assert v.rows == 1010 == ws.load("race").to_arrow().num_rows
