"""A version's facts describe its stored bytes, and a refused snapshot stores nothing: files
changing under a snapshot, append refusals, partition types, CSV/JSON typing, empty JSON lines,
duplicate columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
import pytest

from mlcd.data import append as appending
from mlcd.data import inference
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


@pytest.mark.parametrize(
    ("base", "more"),
    [
        (["1.0", "2.5"], "1"),  # 1 and 1.0 would be one value: a full snapshot types x string
        (["1.5"], str(2**60)),  # a float64 does not hold it exactly
    ],
)
def test_an_appended_value_is_typed_together_with_the_base_values(
    ws: Workspace, base: list[str], more: str
) -> None:
    for value in base:
        parquet(ws.root / "base" / f"x={value}" / "p.parquet", a=[1])
    inc = parquet(ws.root / "inc" / f"x={more}" / "p.parquet", a=[2]).parent
    ws.snapshot("f", ws.root / "base")
    before = stored_blobs(ws)
    with pytest.raises(SchemaConflictError, match=rf"x={more} .*not a float64 value") as exc:
        ws.snapshot("f", inc, append=True)
    assert "together they type as string" in exc.value.message
    assert stored_blobs(ws) == before and [v.number for v in ws.log("f")] == [1]


def test_appended_folders_are_typed_together(ws: Workspace) -> None:
    parquet(ws.root / "base" / "x=1.5" / "p.parquet", a=[1])
    parquet(ws.root / "inc" / "x=3" / "p.parquet", a=[2])
    parquet(ws.root / "inc" / "x=3.0" / "p.parquet", a=[3])
    ws.snapshot("f", ws.root / "base")
    with pytest.raises(SchemaConflictError, match=r"cannot append x=3(\.0)? to f@1"):
        ws.snapshot("f", ws.root / "inc", append=True)


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


# -- 4. CSV and JSON lines: types a whole-file read gives, not the first block's --------------


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (lambda i: i, "1.5"),  # int64 -> double
        (lambda i: i % 2, "true"),  # int64 -> bool, as Arrow's inference loosens it
        (lambda i: "", "x"),  # null -> string
        (lambda i: "", "5"),  # null -> int64
        (lambda i: "2024-01-01", "2024-01-01 10:00:00"),  # date32 -> timestamp[s]
        (lambda i: i, "2024-01-01"),  # int64 -> string
    ],
)
def test_a_csv_value_after_the_first_block_widens_its_column(
    ws: Workspace, first: object, last: str
) -> None:
    src = ws.root / "cb"
    src.mkdir()
    path = src / "big.csv"
    with path.open("w") as f:
        f.write("val,id\n")
        f.writelines(f"{first(i)},{i}\n" for i in range(300_000))  # type: ignore[operator]
        f.write(f"{last},1\n")
    age(path)
    whole = pcsv.read_csv(path)
    assert pcsv.open_csv(path).schema != whole.schema  # the first block alone types it otherwise
    v = ws.snapshot("big", src).version
    assert v.rows == 300_001
    assert [(f.name, f.type) for f in v.schema.fields] == [
        (f.name, str(f.type)) for f in whole.schema
    ]
    read = ws.load("big").to_arrow()  # the reader reads the blob with the recorded types
    assert read.schema == whole.schema and read.equals(whole)


def test_a_json_line_after_the_first_block_widens_and_adds_columns(ws: Workspace) -> None:
    src = ws.root / "jb"
    src.mkdir()
    path = src / "big.jsonl"
    with path.open("w") as f:
        f.writelines(
            json.dumps({"k": i, "t": "2024-01-01 00:00:00"}) + "\n" for i in range(100_000)
        )
        f.write(json.dumps({"k": 1.5, "t": "soon", "x": {"y": [1]}}) + "\n")
    age(path)
    whole = pjson.read_json(path)
    v = ws.snapshot("big", src).version
    assert v.rows == 100_001
    assert [(f.name, f.type) for f in v.schema.fields] == [
        (f.name, str(f.type)) for f in whole.schema
    ]
    read = ws.load("big").to_arrow()
    assert read.schema == whole.schema and read.equals(whole)


def test_json_pieces_merge_like_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small pieces: each line's types meet the others' in the merge."""
    monkeypatch.setattr(inference, "_PIECE", 64)
    lines = [
        {"a": None, "s": {"p": 1}, "l": []},
        {"a": 1, "s": {"q": "x"}, "l": [1]},
        {"a": 2.5, "s": None, "l": [2.5], "t": "2024-01-01T00:00:00Z"},
        {"b": True, "t": "2024-01-01 10:00:00"},
        {"t": "not a time"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n\n".join(json.dumps(line) for line in lines * 50) + "\n")
    monkeypatch.setattr(pjson, "open_json", _failing_open_json(pjson.open_json))
    rows, schema = inference.json_facts(str(path), "mixed.jsonl")
    assert rows == 250 and schema == pjson.read_json(path).schema


def _failing_open_json(open_json: object) -> object:
    """open_json that fails once without an explicit schema, as a late new key makes it fail."""

    def fake(path: str, parse_options: pjson.ParseOptions | None = None) -> object:
        if parse_options is None:
            raise pa.ArrowInvalid("JSON parse error: unexpected field")
        return open_json(path, parse_options=parse_options)  # type: ignore[operator]

    return fake


def test_a_json_key_beyond_the_largest_reader_block_is_refused(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers would need a block reaching the key: past the cap (256 MiB), the file is refused."""
    monkeypatch.setattr(inference, "MAX_JSON_BLOCK", 3 << 20)
    monkeypatch.setattr(inference, "_PIECE", 1 << 16)
    src = ws.root / "late"
    src.mkdir()
    early = "".join(json.dumps({"k": i}) + "\n" for i in range(200_000))
    (src / "near.jsonl").write_text(early + '{"k": 1, "near": 2}\n')
    body = early * 2
    (src / "far.jsonl").write_text(body + '{"k": 1, "far": 2}\n')
    age(src)
    assert len(early) > 1 << 20 and len(body.encode()) > 3 << 20
    with pytest.raises(SourceError, match=rf"far\.jsonl has key 'far' first at byte {len(body):,}"):
        ws.snapshot("late", src)
    assert stored_blobs(ws) == set()
    (src / "far.jsonl").unlink()
    ws.snapshot("late", src)
    assert ws.load("late").to_arrow().column("near").to_pylist()[-1] == 2


def test_json_lines_whose_types_really_conflict_are_refused(ws: Workspace) -> None:
    path = ws.root / "bad.jsonl"
    path.write_text("".join(json.dumps({"k": i}) + "\n" for i in range(100_000)) + '{"k": "s"}\n')
    age(path)
    with pytest.raises(SourceError, match=r"bad.jsonl is not a readable json file.*\bk\b"):
        ws.snapshot("bad", path)
    assert stored_blobs(ws) == set()


# -- 5. an empty JSON lines file is zero rows -------------------------------------------------


def test_an_empty_jsonl_file_is_zero_rows(ws: Workspace) -> None:
    src = ws.root / "spark"
    src.mkdir()
    (src / "part-0.jsonl").write_text("")
    (src / "part-1.jsonl").write_text('{"k": 1, "v": "a"}\n{"k": 2, "v": "b"}\n')
    (src / "part-2.jsonl").write_text("\n\n")
    age(src)
    v = ws.snapshot("spark", src).version
    files = ws.version("spark@1", with_files=True).files
    assert v.rows == 2 and [f.rows for f in files] == [0, 2, 0]
    assert v.schema.names == ["k", "v"]
    assert ws.load("spark").to_pandas()["k"].tolist() == [1, 2]

    more = ws.root / "more"
    more.mkdir()
    (more / "part-3.jsonl").write_text("")
    age(more)
    assert ws.snapshot("spark", more / "part-3.jsonl", append=True).version.rows == 2
    only = ws.snapshot("nothing", more).version
    assert only.rows == 0 and only.schema.names == []
    assert ws.load("nothing").to_arrow().num_rows == 0


# -- 6. duplicate column names ------------------------------------------------------------------


def test_duplicate_column_names_are_refused(ws: Workspace) -> None:
    dp = ws.root / "dp"
    dp.mkdir()
    pq.write_table(pa.table([[1], [2]], names=["a", "a"]), dp / "f.parquet")
    age(dp)
    with pytest.raises(
        SchemaConflictError, match=r"file f\.parquet has more than one column named 'a'"
    ):
        ws.snapshot("dp", dp)
    dh = ws.root / "dh"
    dh.mkdir()
    (dh / "f.csv").write_text("a,b,a\n1,2,3\n")
    age(dh)
    with pytest.raises(SchemaConflictError, match=r"file f\.csv has more than one column"):
        ws.snapshot("dh", dh)
    with pytest.raises(SchemaConflictError, match="the table has more than one column named 'x'"):
        ws.snapshot("t", pa.table([[1], [2]], names=["x", "x"]))
    assert stored_blobs(ws) == set() and ws.datasets() == []


def test_a_repeated_csv_header_is_named_even_when_a_column_needs_widening(ws: Workspace) -> None:
    """The widening pass cannot tell the two `a` columns apart: the header is checked first."""
    dw = ws.root / "dw"
    dw.mkdir()
    with (dw / "f.csv").open("w") as f:
        f.write("a,b,a\n")
        f.writelines(f"{i},{i},{i}\n" for i in range(300_000))
        f.write("1.5,1,1\n")  # after the first block
    age(dw)
    with pytest.raises(SchemaConflictError, match=r"file f\.csv has more than one column"):
        ws.snapshot("dw", dw)
    assert stored_blobs(ws) == set()


# -- 7. a DataFrame is named as such, not as mlcd's temporary file -----------------------------


def test_a_dataframe_append_conflict_names_the_dataframe(ws: Workspace) -> None:
    ws.snapshot("df", pd.DataFrame({"a": [1]}))
    before = stored_blobs(ws)
    with pytest.raises(SchemaConflictError) as exc:
        ws.snapshot("df", pd.DataFrame({"a": ["x"]}), append=True)
    assert exc.value.message.startswith("column 'a' is ")
    assert "in the DataFrame but int64 in df@1" in exc.value.message
    assert ".mlcd" not in exc.value.message and "parquet" not in exc.value.message
    assert stored_blobs(ws) == before
