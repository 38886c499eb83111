"""Snapshots from every kind of source; incremental ingest; append; schema evolution."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.errors import NotFoundError, QueryError, SchemaConflictError, SourceError
from mlcd.meta import known_revisions
from mlcd.store import hash_file
from mlcd.workspace import Workspace
from tests.conftest import age, write_partitions
from tests.postgres import BACKENDS, sqlite_only

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL


def stored_blobs(ws: Workspace) -> set[str]:
    return set(ws.store.iter_blobs())


def test_first_snapshot_records_the_manifest(ws: Workspace, sales: Path) -> None:
    result = ws.snapshot("sales", sales, message="three days")
    v = ws.version("sales@1", with_files=True)
    assert result.created and result.version.number == 1 and v.parent is None
    assert v.rows == 300 and v.file_count == 3 and v.format == "parquet"
    assert v.partitioning == {"date": "date32"}
    assert [f.path for f in v.files] == [f"date=2024-01-0{d}/part-0.parquet" for d in (1, 2, 3)]
    for f in v.files:
        assert f.blob == hash_file(sales / f.path) and f.rows == 100
        assert f.partition == {"date": f.path[5:15]}
    assert v.schema.names == ["amount", "items", "channel"]
    assert v.message == "three days" and v.created_by
    assert v.bytes == sum((sales / f.path).stat().st_size for f in v.files)


def test_unchanged_source_creates_no_version_and_reads_nothing(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    again = ws.snapshot("sales", sales)
    assert not again.created and again.version.number == 1
    assert again.files_ingested == 0 and again.files_reused == 3
    assert [v.number for v in ws.log("sales")] == [1]


def test_only_new_or_changed_files_are_ingested(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    write_partitions(sales, ["2024-01-04"], seed=9)
    changed = sales / "date=2024-01-01" / "part-0.parquet"
    pq.write_table(pa.table({"amount": [1.0], "items": [1], "channel": ["web"]}), changed)
    age(changed)
    result = ws.snapshot("sales", sales)
    assert result.created and result.version.number == 2
    assert result.files_ingested == 2 and result.files_reused == 2
    assert result.version.rows == 100 * 3 + 1


def test_unchanged_stat_is_trusted_unless_rehash(ws: Workspace) -> None:
    src = ws.root / "csv"
    src.mkdir()
    target = src / "a.csv"
    target.write_text("id\n1\n")
    age(target)
    ws.snapshot("ids", src)
    st = target.stat()
    target.write_text("id\n2\n")  # same size; then restore mtime: the stat looks unchanged
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not ws.snapshot("ids", src).created  # trusted, like git's index
    forced = ws.snapshot("ids", src, rehash=True)
    assert forced.created and forced.files_ingested == 1
    assert ws.load("ids@2").to_pandas()["id"].tolist() == [2]


def test_recently_modified_files_are_rehashed_once(ws: Workspace, sales: Path) -> None:
    fresh = write_partitions(ws.root / "fresh", ["2024-02-01"])
    os.utime(fresh / "date=2024-02-01" / "part-0.parquet")  # mtime = now: racily clean
    ws.snapshot("fresh", fresh)
    assert ws.snapshot("fresh", fresh).files_ingested == 1


def test_blob_deleted_from_store_is_ingested_again(ws: Workspace, sales: Path) -> None:
    v1 = ws.snapshot("sales", sales).version
    blob = ws.version(v1.ref, with_files=True).files[0].blob
    path = ws.store.path_of(blob)  # type: ignore[attr-defined]
    path.unlink()
    result = ws.snapshot("sales", sales)
    assert not result.created and result.files_ingested == 1
    assert ws.store.has(blob)


def test_identical_files_are_stored_once(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    before = stored_blobs(ws)
    copy = ws.root / "copy"
    copy.mkdir()
    for f in sales.rglob("*.parquet"):
        dest = copy / f.relative_to(sales)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    age(copy)
    ws.snapshot("copy", copy)
    assert stored_blobs(ws) == before
    assert ws.version("copy@1").content_id == ws.version("sales@1").content_id


def test_append_adds_partitions_on_top_of_latest(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    incoming = write_partitions(ws.root / "incoming", ["2024-01-04"], seed=3)
    result = ws.snapshot("sales", incoming / "date=2024-01-04", append=True)
    v = ws.version("sales@2", with_files=True)
    assert result.created and v.parent == 1 and v.file_count == 4 and v.rows == 400
    assert "date=2024-01-04/part-0.parquet" in [f.path for f in v.files]
    with pytest.raises(SourceError, match="already has"):
        ws.snapshot("sales", incoming / "date=2024-01-04", append=True)
    with pytest.raises(NotFoundError, match="does not exist"):
        ws.snapshot("nosuch", incoming, append=True)


def test_append_a_dataframe(ws: Workspace) -> None:
    ws.snapshot("events", pd.DataFrame({"a": [1, 2]}))
    ws.snapshot("events", pd.DataFrame({"a": [3]}), append=True)
    assert sorted(ws.load("events").to_pandas()["a"]) == [1, 2, 3]


def test_schema_evolution_new_nullable_column(ws: Workspace, sales: Path) -> None:
    extra = sales / "date=2024-01-04"
    extra.mkdir()
    pq.write_table(
        pa.table({"amount": [1.0], "items": [2], "channel": ["web"], "coupon": ["X1"]}),
        extra / "part-0.parquet",
    )
    age(sales)
    v = ws.snapshot("sales", sales).version
    assert v.schema.names == ["amount", "items", "channel", "coupon"]
    assert len(v.schema.variants) == 2
    frame = ws.load("sales@1").to_pandas()
    assert frame["coupon"].notna().sum() == 1


def test_conflicting_schemas_name_the_files(ws: Workspace, sales: Path) -> None:
    bad = sales / "date=2024-01-04"
    bad.mkdir()
    pq.write_table(pa.table({"amount": ["oops"]}), bad / "part-0.parquet")
    age(sales)
    with pytest.raises(SchemaConflictError) as exc:
        ws.snapshot("sales", sales)
    assert "date=2024-01-04/part-0.parquet" in exc.value.message
    assert "amount" in exc.value.message
    assert ws.datasets() == []


def test_csv_and_jsonl_sources(ws: Workspace) -> None:
    csv_dir = ws.root / "csv"
    csv_dir.mkdir()
    (csv_dir / "a.csv").write_text("id,name,score\n1,ann,0.5\n2,bob,0.7\n")
    (csv_dir / "b.csv").write_text("id,name,score\n3,cy,1.5\n")
    v = ws.snapshot("people", csv_dir).version
    assert v.format == "csv" and v.rows == 3
    frame = ws.load("people").to_pandas()
    assert list(frame["id"]) == [1, 2, 3] and frame["score"].dtype == "float64"

    jsonl = ws.root / "events.jsonl"
    jsonl.write_text("".join(json.dumps({"k": i, "v": f"x{i}"}) + "\n" for i in range(5)))
    v = ws.snapshot("events", jsonl).version
    assert v.format == "json" and v.rows == 5 and [f.path for f in v.files] == ["events.jsonl"]
    assert ws.load("events", columns=["v"]).to_pandas()["v"].tolist()[-1] == "x4"


def test_single_parquet_file(ws: Workspace, sales: Path) -> None:
    v = ws.snapshot("day", sales / "date=2024-01-01" / "part-0.parquet").version
    assert v.file_count == 1 and v.rows == 100 and v.partitioning == {}


def test_dataframe_and_arrow_sources(ws: Workspace) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    v1 = ws.snapshot("frame", frame).version
    assert v1.rows == 3 and v1.source.startswith("<pandas")
    assert not ws.snapshot("frame", frame.copy()).created  # same content, same bytes
    v2 = ws.snapshot("frame", pa.Table.from_pandas(frame.iloc[:2], preserve_index=False))
    assert v2.created and v2.version.rows == 2
    pd.testing.assert_frame_equal(ws.load("frame@1").to_pandas(), frame)


def test_sql_query_source(ws: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "ops.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL, note TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 1.5, None) for i in range(1000)]
        )
    url = f"sqlite:///{db}"
    v = ws.snapshot("orders", url, query="SELECT * FROM orders WHERE id < 10").version
    assert v.rows == 10 and "SELECT * FROM orders" in v.source
    assert ws.load("orders").to_pandas()["amount"].sum() == pytest.approx(
        sum(i * 1.5 for i in range(10))
    )
    whole = ws.snapshot("orders", url, table="orders").version
    assert whole.rows == 1000
    assert {f.name: f.type for f in whole.schema.fields} == {
        "id": "int64",
        "amount": "double",
        "note": "string",  # declared TEXT: a string column, though every value is NULL
    }
    assert not ws.snapshot("orders", url, table="orders").created  # same rows, same content
    with pytest.raises(QueryError, match="no such table"):
        ws.snapshot("orders", url, table="missing")
    with pytest.raises(SourceError, match="needs a query or a table"):
        ws.snapshot("orders", url)


@pytest.mark.slow  # starts PostgreSQL
@sqlite_only  # the source is PostgreSQL; where mlcd keeps its metadata does not matter here
def test_postgresql_table_source(ws: Workspace, postgres_url: str) -> None:
    """An operational PostgreSQL database: its types arrive as Arrow types, unchanged rows
    give the same content, and the password never reaches the version's description."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customers (id integer PRIMARY KEY, name text, balance numeric(10, 2),"
                " active boolean, joined date, seen timestamptz, note varchar(20))"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO customers SELECT i, 'c' || i, i * 1.25, i % 2 = 0,"
                " DATE '2024-01-01' + i, TIMESTAMPTZ '2024-01-01 12:00+00' + i * INTERVAL '1 hour'"
                " FROM generate_series(1, 500) AS i"
            )
        )
    engine.dispose()
    url = sa.make_url(postgres_url).set(password="s3cret")  # trust auth ignores it
    url_text = url.render_as_string(hide_password=False)
    v = ws.snapshot("customers", url_text, table="customers").version
    assert v.rows == 500 and "s3cret" not in v.source and "customers" in v.source
    types = {f.name: f.type for f in v.schema.fields}
    assert types["id"] == "int64" and types["active"] == "bool" and types["joined"] == "date32[day]"
    # the declared types, not what the values happen to need
    assert types["balance"] == "decimal128(10, 2)" and types["seen"] == "timestamp[us, tz=UTC]"
    assert types["note"] == "string"  # no value yet, still its type
    frame = ws.load("customers").to_pandas().sort_values("id")
    assert frame["balance"].astype(float).iloc[-1] == pytest.approx(625.0)
    assert not ws.snapshot("customers", url_text, table="customers").created
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customers (id, balance) VALUES (501, 99999999.99)"))
    engine.dispose()
    v2 = ws.snapshot("customers", url_text, table="customers").version
    assert v2.rows == 501 and v2.schema.fields == v.schema.fields  # a stable schema
    with pytest.raises(QueryError, match="missing"):
        ws.snapshot("customers", url_text, query="SELECT * FROM missing")


@sqlite_only  # the source is a SQLite file; where mlcd keeps its metadata does not matter here
def test_sqlite_query_columns_keep_their_declared_types(ws: Workspace, tmp_path: Path) -> None:
    """A query's columns taken from table columns have their declared types, so an all-NULL
    column does not change the schema; an expression is typed by its values."""
    db = tmp_path / "ops.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL, note TEXT, qty INTEGER)")
        conn.executemany("INSERT INTO orders (id, amount) VALUES (?, ?)", [(1, 1.5), (2, 3.0)])
    url = f"sqlite:///{db}"
    query = "SELECT o.id, o.note, o.qty, upper(note) AS loud, amount * 2 AS twice FROM orders o"
    v1 = ws.snapshot("orders", url, query=query).version
    types = {f.name: f.type for f in v1.schema.fields}
    assert types == {
        "id": "int64",
        "note": "string",  # all NULL, typed as declared
        "qty": "int64",
        "loud": "null",  # an expression: SQLite declares nothing, so its values decide
        "twice": "double",
    }
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE orders SET note = 'n' || id, qty = id")
    v2 = ws.snapshot("orders", url, query=query)
    assert v2.created
    assert v2.version.schema.fields[:3] == v1.schema.fields[:3]
    assert {f.name: f.type for f in v2.version.schema.fields}["loud"] == "string"
    # the temporary view that asks SQLite for the types works on a read-only database too
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    again = ws.snapshot("orders_ro", read_only, query=query).version
    assert again.schema.fields == v2.version.schema.fields
    with sqlite3.connect(db) as conn:  # SQLite keeps 1.5 in an INTEGER column: never cut to 1
        conn.execute("UPDATE orders SET qty = 1.5 WHERE id = 1")
    ws.snapshot("orders", url, query=query)
    assert ws.load("orders").to_arrow().column("qty").to_pylist() == [1.5, 2.0]
    # SQL that cannot be a view is still snapshotted, typed by its values
    pragma = ws.snapshot("columns", url, query="PRAGMA table_info(orders)").version
    assert pragma.rows == 4


@pytest.mark.slow  # starts PostgreSQL
@sqlite_only  # the source is PostgreSQL; where mlcd keeps its metadata does not matter here
def test_postgresql_query_columns_keep_their_types(ws: Workspace, postgres_url: str) -> None:
    """A query's columns, expressions included, take the types PostgreSQL describes: a snapshot
    of NULLs and one of values have one schema, the same as the table's."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE accounts (id int4 PRIMARY KEY, small int2, big int8, ratio float4,"
                " score float8, balance numeric(10, 2), total numeric, name text,"
                " code varchar(8), tag char(3), active boolean, opened date, seen timestamp,"
                " changed timestamptz, raw bytea, doc json, docb jsonb, ref uuid)"
            )
        )
        conn.execute(sa.text("INSERT INTO accounts (id) SELECT generate_series(1, 3)"))
    query = (
        "SELECT *, changed + INTERVAL '1 hour' AS later, balance::numeric(12, 3) AS exact"
        " FROM accounts ORDER BY id"
    )
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")  # psycopg 3 too
    v1 = ws.snapshot("accounts", plain, query=query).version
    types = {f.name: f.type for f in v1.schema.fields}
    assert types == {
        "id": "int64",
        "small": "int64",
        "big": "int64",
        "ratio": "double",
        "score": "double",
        "balance": "decimal128(10, 2)",
        "total": "null",  # an unconstrained numeric has no precision: its values decide
        "name": "string",
        "code": "string",
        "tag": "string",
        "active": "bool",
        "opened": "date32[day]",
        "seen": "timestamp[us]",
        "changed": "timestamp[us, tz=UTC]",
        "raw": "binary",
        "doc": "string",
        "docb": "string",
        "ref": "string",
        "later": "timestamp[us, tz=UTC]",
        "exact": "decimal128(12, 3)",
    }
    ref = "6f1c2a8e-0b5d-4c3e-9a7f-1d2e3f4a5b6c"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE accounts SET small = 1, big = 2, ratio = 0.5, score = 1, balance = 1234.5,"
                " total = 1.5, name = 'n', code = 'c', tag = 't', active = true,"
                " opened = DATE '2024-01-01', seen = TIMESTAMP '2024-01-01 12:00',"
                " changed = TIMESTAMPTZ '2024-01-01 12:00+00', raw = '\\x01',"
                """ doc = '{"b": 1.0e2, "a": null}', docb = '{"b": 1.0e2, "a": null}', ref = :ref"""
            ),
            {"ref": ref},
        )
    engine.dispose()
    v2 = ws.snapshot("accounts", postgres_url, query=query).version
    assert {f.name: f.type for f in v2.schema.fields}["total"] == "decimal128(2, 1)"
    same = [f for f in v2.schema.fields if f.name != "total"]
    assert same == [f for f in v1.schema.fields if f.name != "total"]
    row = ws.load("accounts").to_arrow().slice(0, 1).to_pylist()[0]
    assert row["doc"] == '{"b": 1.0e2, "a": null}'  # json: the stored text
    assert row["docb"] == '{"a": null, "b": 100}'  # jsonb: as PostgreSQL prints it
    assert row["ref"] == ref and row["raw"] == b"\x01" and str(row["balance"]) == "1234.50"
    # the server's time zone is Asia/Kathmandu; the instant reads back in UTC
    assert row["changed"].isoformat() == "2024-01-01T12:00:00+00:00"
    table = ws.snapshot("accounts_table", postgres_url, table="accounts").version
    assert table.schema.fields == v2.schema.fields[:-2]  # a table's types and its query's agree
    empty = ws.snapshot("no_accounts", postgres_url, query=f"SELECT * FROM ({query}) q WHERE false")
    assert empty.version.rows == 0 and empty.version.schema.fields == v1.schema.fields


def test_sqlite_values_of_mixed_kinds(ws: Workspace, tmp_path: Path) -> None:
    """SQLite keeps any value in any column: values that fit no single type arrive as text."""
    db = tmp_path / "loose.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (n INTEGER, m)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 1.5), ("two", "x"), (None, None)])
    v = ws.snapshot("loose", f"sqlite:///{db}", table="t").version
    assert {f.name: f.type for f in v.schema.fields} == {"n": "string", "m": "string"}
    assert ws.load("loose").to_arrow().column("n").to_pylist() == ["1", "two", None]


def test_source_from_mlcd_yaml(ws: Workspace, sales: Path) -> None:
    config = ws.root / "mlcd.yaml"
    config.write_text(
        config.read_text().replace("datasets: {}", "datasets:\n  sales:\n    source: data/sales")
    )
    ws2 = Workspace(ws.root)
    assert ws2.snapshot("sales").version.rows == 300


def heavy_imports_of_a_snapshot(ws: Workspace, check: str) -> list[str]:
    """Snapshot data/sales in a fresh interpreter; assert `check` on the result `r`; return
    which of pyarrow and SQLAlchemy it imported."""
    code = (
        "import sys, mlcd\n"
        "r = mlcd.open_workspace().snapshot('sales', 'data/sales')\n"
        f"assert {check}, r\n"
        "print(*[m for m in ('pyarrow', 'sqlalchemy') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ws.root, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


@sqlite_only  # the stdlib sqlite3 fast path
def test_no_change_resnapshot_does_not_load_sqlalchemy(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    check = "not r.created and r.version.ref == 'sales@1' and r.version.rows == 300"
    assert heavy_imports_of_a_snapshot(ws, check) == []


@sqlite_only  # the stdlib sqlite3 fast path
def test_fast_path_falls_back_when_the_db_is_not_at_head(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    assert ws.db.sqlite_path is not None
    with sqlite3.connect(ws.db.sqlite_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    assert ws.db.peek("SELECT 1", ()) is None
    with sqlite3.connect(ws.db.sqlite_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (known_revisions()[-1],))
    assert ws.db.peek("SELECT 1", ()) is not None


# -- a new partition without pyarrow: Parquet footers decoded in Python (data/footer.py) ---------


def test_new_partition_is_ingested_without_importing_pyarrow(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    write_partitions(sales, ["2024-01-04"], seed=4)
    check = "r.created and r.files_ingested == 1 and r.version.rows == 400"
    # SQLAlchemy is how mlcd talks to PostgreSQL; on a SQLite file it is not needed either
    expected = [] if ws.db.sqlite_path is not None else ["sqlalchemy"]
    assert heavy_imports_of_a_snapshot(ws, check) == expected
    v2 = ws.version("sales@2", with_files=True)
    assert v2.schema == ws.version("sales@1").schema
    assert [f.rows for f in v2.files] == [100] * 4
    assert len(ws.load("sales@2").to_pandas()) == 400


def test_footprints_give_the_schema_pyarrow_would(ws: Workspace, tmp_path: Path) -> None:
    """Every type through the footprint path equals a fresh pyarrow read of the same files."""
    src = tmp_path / "src"
    for day in ("2024-01-01", "2024-01-02"):
        (src / f"day={day}").mkdir(parents=True)
        pq.write_table(_typed_table(day), src / f"day={day}" / "p.parquet")
    age(src)
    ws.snapshot("typed", src)
    (src / "day=2024-01-03").mkdir()
    pq.write_table(_typed_table("2024-01-03"), src / "day=2024-01-03" / "p.parquet")
    age(src)
    incremental = ws.snapshot("typed", src).version
    fresh = Workspace.init(tmp_path / "other")
    try:
        from_scratch = fresh.snapshot("typed", src).version
    finally:
        fresh.close()
    assert incremental.schema == from_scratch.schema
    assert incremental.content_id == from_scratch.content_id
    assert incremental.rows == from_scratch.rows == 30
    frame = ws.load("typed@2").to_arrow()
    assert frame.schema.field("ts").type == pa.timestamp("ms", tz="Europe/Paris")
    assert frame.schema.field("s").type == pa.large_string()


def _typed_table(day: str) -> pa.Table:
    import datetime as dt

    return pa.table(
        {
            "ts": pa.array([dt.datetime(2024, 1, 1)] * 10, pa.timestamp("ms", tz="Europe/Paris")),
            "s": pa.array([day] * 10, pa.large_string()),
            "l": pa.array([[1, 2]] * 10, pa.list_(pa.int32())),
            "dec": pa.array(list(range(10)), pa.decimal128(9, 2)),
        }
    )


def test_same_schema_from_another_writer_keeps_the_version_schema(
    ws: Workspace, sales: Path
) -> None:
    """Writers add their own metadata (a new footprint) to the same Arrow schema."""
    ws.snapshot("sales", sales)
    extra = sales / "date=2024-01-04"
    extra.mkdir()
    table = pa.table({"amount": [1.5], "items": [3], "channel": ["app"]})
    pq.write_table(table.replace_schema_metadata({"writer": "other"}), extra / "part-0.parquet")
    age(sales)
    v2 = ws.snapshot("sales", sales).version
    assert v2.schema == ws.version("sales@1").schema and len(v2.schema.variants) == 1
    assert v2.rows == 301
    with sqlite3.connect(ws.state / "cache" / "stat.db") as conn:
        assert conn.execute("SELECT count(DISTINCT schema_id) FROM footprints").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM footprints").fetchone() == (2,)


def test_new_schema_in_a_new_partition_still_conflicts(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    bad = sales / "date=2024-01-04"
    bad.mkdir()
    pq.write_table(pa.table({"items": ["many"]}), bad / "part-0.parquet")
    age(sales)
    before = stored_blobs(ws)
    with pytest.raises(SchemaConflictError, match="date=2024-01-04"):
        ws.snapshot("sales", sales)
    with pytest.raises(SchemaConflictError, match="date=2024-01-04"):
        ws.snapshot("sales", bad, append=True)
    assert stored_blobs(ws) == before and [v.number for v in ws.log("sales")] == [1]


def test_index_without_the_schema_falls_back_to_pyarrow(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    with sqlite3.connect(ws.state / "cache" / "stat.db") as conn:
        assert conn.execute("SELECT count(*) FROM footprints").fetchone()[0] == 1
        conn.execute("DELETE FROM schemas")
    write_partitions(sales, ["2024-01-04"], seed=4)
    v2 = ws.snapshot("sales", sales).version
    assert v2.rows == 400 and v2.schema == ws.version("sales@1").schema


def test_corrupt_parquet_with_a_known_footprint_is_refused(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    write_partitions(sales, ["2024-01-04"], seed=4)
    part = sales / "date=2024-01-04" / "part-0.parquet"
    data = bytearray(part.read_bytes())
    data[-5] ^= 0xFF  # the footer length: now neither mlcd nor pyarrow can find the footer
    part.write_bytes(bytes(data))
    age(sales)
    with pytest.raises(SourceError, match=r"date=2024-01-04/part-0\.parquet"):
        ws.snapshot("sales", sales)
    assert [v.number for v in ws.log("sales")] == [1]


def test_a_file_removed_during_the_snapshot_is_named(
    ws: Workspace, sales: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcd.data import snapshot

    scan = snapshot.scan
    victim = sales / "date=2024-01-02" / "part-0.parquet"

    def scan_then_remove(*args: object) -> object:
        files = scan(*args)  # type: ignore[arg-type]
        victim.unlink()  # after the listing, before the copy
        return files

    monkeypatch.setattr(snapshot, "scan", scan_then_remove)
    with pytest.raises(SourceError, match=f"cannot read {victim}"):
        ws.snapshot("sales", sales)
    assert stored_blobs(ws) == set() and ws.datasets() == []


def test_a_reused_blob_collected_meanwhile_fails_the_snapshot_not_the_data(
    ws: Workspace, sales: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot that never committed leaves blobs the stat index knows but no version holds;
    if a concurrent gc removes one while the next snapshot reuses it, that snapshot fails."""
    from mlcd.data import catalog
    from mlcd.maintenance import fsck

    ws.snapshot("sales", sales)
    write_partitions(sales, ["2024-01-04"], seed=4)
    insert = catalog.insert_version

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # after the blobs were stored, before the version row

    monkeypatch.setattr(catalog, "insert_version", crash)
    with pytest.raises(KeyboardInterrupt):
        ws.snapshot("sales", sales)
    orphan = hash_file(sales / "date=2024-01-04" / "part-0.parquet")
    assert ws.store.has(orphan)

    def gc_meanwhile(*args: object, **kwargs: object) -> None:
        ws.store.delete(orphan)
        insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog, "insert_version", gc_meanwhile)
    with pytest.raises(SourceError, match="removed from the store meanwhile"):
        ws.snapshot("sales", sales)
    monkeypatch.setattr(catalog, "insert_version", insert)
    assert [v.number for v in ws.log("sales")] == [1]
    assert ws.snapshot("sales", sales).version.number == 2  # stored afresh
    assert fsck(ws).ok
