"""Reading versions back through Arrow, pandas and DuckDB, from the store only."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import mlcd
from mlcd.errors import IntegrityError, NotFoundError, QueryError
from mlcd.workspace import Workspace
from tests.conftest import write_partitions


@pytest.fixture
def snap(ws: Workspace, sales: Path) -> Workspace:
    ws.snapshot("sales", sales)
    return ws


def test_to_arrow_and_pandas_have_typed_partition_column(snap: Workspace) -> None:
    table = snap.load("sales@1").to_arrow()
    assert table.num_rows == 300
    assert table.schema.field("date").type == pa.date32()
    frame = snap.load("sales").to_pandas()
    assert sorted(frame["date"].astype(str).unique()) == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_column_selection(snap: Workspace) -> None:
    table = snap.load("sales@1", columns=["items", "date"]).to_arrow()
    assert table.column_names == ["items", "date"]
    with pytest.raises(NotFoundError, match="no column 'nope'"):
        snap.load("sales@1", columns=["nope"])


def test_partition_filter_prunes_files(snap: Workspace) -> None:
    reader = snap.load("sales@1", partitions="date >= '2024-01-02'")
    assert [f.partition["date"] for f in reader.files] == ["2024-01-02", "2024-01-03"]
    assert reader.to_arrow().num_rows == 200
    assert snap.load("sales@1", partitions="date = '1999-01-01'").to_arrow().num_rows == 0
    with pytest.raises(QueryError, match="partition filter"):
        snap.load("sales@1", partitions="date >>> nonsense")


def test_integer_partition_keys(ws: Workspace) -> None:
    src = write_partitions(ws.root / "byyear", ["2023", "2024"], key="year")
    ws.snapshot("years", src)
    reader = ws.load("years", partitions="year > 2023")
    assert reader.version.partitioning == {"year": "int64"}
    assert reader.to_pandas()["year"].unique().tolist() == [2024]


def test_duckdb_relation(snap: Workspace) -> None:
    rel = snap.load("sales@1").duckdb()
    assert rel.aggregate("count(*)").fetchall() == [(300,)]
    by_day = rel.filter("date = '2024-01-03'").aggregate("count(*)").fetchall()[0]
    assert by_day == (100,)
    con = duckdb.connect()
    rel2 = snap.load("sales@1", columns=["items"]).duckdb(con)
    assert rel2.columns == ["items"]


def test_reading_never_touches_the_source(snap: Workspace, sales: Path) -> None:
    shutil.rmtree(sales)
    assert snap.load("sales@1").to_arrow().num_rows == 300


def test_module_level_load_uses_the_current_workspace(snap: Workspace) -> None:
    assert mlcd.load("sales@1", columns=["amount"]).to_pandas().shape == (300, 1)


def test_unknown_dataset_and_version(snap: Workspace) -> None:
    with pytest.raises(NotFoundError, match="dataset 'nope' does not exist"):
        snap.load("nope@1")
    with pytest.raises(NotFoundError, match="no version 7") as exc:
        snap.load("sales@7")
    assert "1..1" in (exc.value.hint or "")


def test_corrupt_blob_is_reported(snap: Workspace, tmp_path: Path) -> None:
    v = snap.version("sales@1", with_files=True)
    path = snap.store.path_of(v.files[0].blob)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"not parquet at all")
    with pytest.raises(IntegrityError, match="sales@1"):
        snap.load("sales@1").to_arrow()
    with pytest.raises(IntegrityError, match=v.files[0].blob):
        snap.materialize("sales@1", tmp_path / "out")


def test_materialize_writes_exact_files(snap: Workspace, sales: Path, tmp_path: Path) -> None:
    snap.materialize("sales@1", tmp_path / "out")
    for f in sales.rglob("*.parquet"):
        assert (tmp_path / "out" / f.relative_to(sales)).read_bytes() == f.read_bytes()
