"""A version's facts describe its stored bytes, and a refused snapshot stores nothing: files
changing under a snapshot, append refusals, partition types, CSV/JSON typing, empty JSON lines,
duplicate columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.data import append as appending
from mlcd.errors import SchemaConflictError, SourceError
from mlcd.workspace import Workspace
from tests.conftest import age, write_partitions

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


# -- 2. a refused --append stores nothing -------------------------------------------------------


@BOTH_DBS
def test_an_append_with_other_partition_keys_stores_nothing(ws: Workspace) -> None:
    parquet(ws.root / "base" / "date=2024-01-01" / "p.parquet", a=[1])
    inc = parquet(ws.root / "inc" / "region=eu" / "p.parquet", a=[2]).parent
    ws.snapshot("s", ws.root / "base")
    before = stored_blobs(ws)
    with pytest.raises(SourceError, match=r"partitioned by \['region'\] to s@1"):
        ws.snapshot("s", inc, append=True)
    assert stored_blobs(ws) == before and [v.number for v in ws.log("s")] == [1]


@BOTH_DBS
def test_an_append_whose_partition_key_is_a_column_stores_nothing(ws: Workspace) -> None:
    parquet(ws.root / "base" / "date=2024-01-01" / "p.parquet", a=[1])
    inc = parquet(ws.root / "inc" / "date=2024-01-02" / "p.parquet", a=[2], date=["x"]).parent
    ws.snapshot("s", ws.root / "base")
    before = stored_blobs(ws)
    with pytest.raises(SchemaConflictError, match=r"partition key 'date'.*is also a column"):
        ws.snapshot("s", inc, append=True)
    assert stored_blobs(ws) == before and [v.number for v in ws.log("s")] == [1]


def test_an_append_of_a_path_the_version_has_stores_nothing(ws: Workspace) -> None:
    sales = write_partitions(ws.root / "sales", ["2024-01-01"])
    ws.snapshot("sales", sales)
    again = ws.root / "again" / "date=2024-01-01"
    again.mkdir(parents=True)
    pq.write_table(pa.table({"amount": [1.0], "items": [1], "channel": ["x"]}), again / "p.parquet")
    (again / "part-0.parquet").write_bytes((again / "p.parquet").read_bytes())
    age(again)
    before = stored_blobs(ws)
    with pytest.raises(SourceError, match=r"already has date=2024-01-01/part-0\.parquet"):
        ws.snapshot("sales", again, append=True)
    assert stored_blobs(ws) == before


@BOTH_DBS
def test_an_append_meanwhile_is_built_upon_and_checked_again(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer appends between this append's checks and its commit: this one goes on
    top of that version, checked against it again."""
    sales = write_partitions(ws.root / "sales", ["2024-01-01"])
    ws.snapshot("sales", sales)
    inc = write_partitions(ws.root / "inc", ["2024-01-02", "2024-01-03"], seed=2)
    base_version = appending.base_version
    meanwhile = [inc / "date=2024-01-03"]

    def another_writer_meanwhile(*args: object) -> object:
        base = base_version(*args)  # type: ignore[arg-type]
        if meanwhile:
            ws.snapshot("sales", meanwhile.pop(), append=True)
        return base

    monkeypatch.setattr(appending, "base_version", another_writer_meanwhile)
    v = ws.snapshot("sales", inc / "date=2024-01-02", append=True).version
    assert v.number == 3 and v.parent == 2 and v.rows == 300
    assert [f.path[:15] for f in ws.version("sales@3", with_files=True).files] == [
        "date=2024-01-01",
        "date=2024-01-02",
        "date=2024-01-03",
    ]

    # both append date=2024-01-04: the second sees the first's only on its second look
    meanwhile.append(write_partitions(ws.root / "inc3", ["2024-01-04"], seed=3) / "date=2024-01-04")
    late = write_partitions(ws.root / "inc4", ["2024-01-04"], seed=4) / "date=2024-01-04"
    with pytest.raises(SourceError, match="sales@4 already has date=2024-01-04"):
        ws.snapshot("sales", late, append=True)
    assert [v.number for v in ws.log("sales")] == [4, 3, 2, 1]


# -- 3. partition types do not change silently ------------------------------------------------


@BOTH_DBS
def test_an_appended_partition_value_must_fit_the_key_type(ws: Workspace) -> None:
    parquet(ws.root / "base" / "date=2024-01-01" / "p.parquet", a=[1])
    oops = parquet(ws.root / "inc" / "date=oops" / "p.parquet", a=[6]).parent
    ws.snapshot("s", ws.root / "base")
    before = stored_blobs(ws)
    with pytest.raises(SchemaConflictError, match=r"date=oops.*not a date32 value") as exc:
        ws.snapshot("s", oops, append=True)
    assert "s@1" in exc.value.message
    assert stored_blobs(ws) == before and [v.number for v in ws.log("s")] == [1]
    assert ws.version("s").partitioning == {"date": "date32"}


def test_an_appended_value_of_a_narrower_type_keeps_the_key_type(ws: Workspace) -> None:
    parquet(ws.root / "base" / "x=1.5" / "p.parquet", a=[1])
    parquet(ws.root / "nulls" / "k=__HIVE_DEFAULT_PARTITION__" / "p.parquet", a=[1])
    ws.snapshot("f", ws.root / "base")
    ws.snapshot("f", parquet(ws.root / "inc" / "x=2" / "p.parquet", a=[2]).parent, append=True)
    assert ws.version("f@2").partitioning == {"x": "float64"}
    assert sorted(ws.load("f@2").to_pandas()["x"]) == [1.5, 2.0]
    # a key seen only as null is a string key: a later value keeps it one
    ws.snapshot("n", ws.root / "nulls")
    ws.snapshot("n", parquet(ws.root / "inc" / "k=7" / "p.parquet", a=[2]).parent, append=True)
    assert ws.version("n@2").partitioning == {"k": "string"}
    assert sorted(ws.load("n@2").to_pandas()["k"].dropna()) == ["7"]


def test_a_resnapshot_that_retypes_a_partition_key_is_recorded_and_diffed(ws: Workspace) -> None:
    src = ws.root / "src"
    parquet(src / "date=2024-01-01" / "p.parquet", a=[1])
    ws.snapshot("s", src)
    parquet(src / "date=oops" / "p.parquet", a=[6])
    ws.snapshot("s", src)
    assert ws.version("s@2").partitioning == {"date": "string"}
    d = ws.diff("s@1", "s@2")
    assert d.partitioning_changed == ["date: date32 -> string"]
    assert d.to_dict()["partitioning_changed"] == ["date: date32 -> string"]

    flat = parquet(ws.root / "flat" / "p.parquet", a=[1]).parent
    ws.snapshot("s", flat)
    assert ws.diff("s@2", "s@3").partitioning_changed == ["-date: string"]
    assert ws.diff("s@3", "s@1").partitioning_changed == ["+date: date32"]
    assert ws.diff("s@1", "s@1").partitioning_changed == []
