"""Edge cases of snapshot sources: DataFrame indexes, odd objects, SQL types and connections,
symlinks, file names and Hive partition values."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlcd.errors import SourceError
from mlcd.workspace import Workspace
from tests.conftest import Cli
from tests.postgres import sqlite_only

# -- DataFrames ---------------------------------------------------------------------------------


def stored_file(ws: Workspace, ref: str, out: Path) -> Path:
    """The one Parquet file of a version, materialised from the store."""
    ws.materialize(ref, out)
    (path,) = out.rglob("*.parquet")
    return path


def test_a_named_index_is_kept_as_a_column(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name="k"))
    ws.snapshot("indexed", frame)
    assert ws.load("indexed").to_pandas().to_dict("list") == {"k": [5, 6], "a": [1, 2]}
    # plain columns only: no pandas metadata that would turn `k` back into an index on read
    path = stored_file(ws, "indexed", tmp_path / "out")
    assert pq.read_schema(path).metadata is None
    assert b"pandas" not in path.read_bytes()


def test_an_index_made_of_the_only_column_is_not_lost(ws: Workspace) -> None:
    ws.snapshot("only", pd.DataFrame({"a": [1, 2]}).set_index("a"))
    assert ws.load("only").to_pandas().to_dict("list") == {"a": [1, 2]}


def test_unnamed_and_multi_indexes(ws: Workspace) -> None:
    labelled = pd.DataFrame({"v": [1, 2]}, index=["x", "y"])
    ws.snapshot("labelled", labelled)
    assert list(ws.load("labelled").to_pandas().columns) == ["index", "v"]
    multi = pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "x"), (2, "y")]))
    ws.snapshot("multi", multi)
    assert ws.load("multi").to_pandas().to_dict("list") == {
        "level_0": [1, 2],
        "level_1": ["x", "y"],
        "v": [1, 2],
    }


def test_a_range_index_adds_nothing(ws: Workspace) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    ws.snapshot("ranged", frame)
    assert not ws.snapshot("ranged", frame.iloc[::-1].iloc[::-1]).created  # same rows
    ws.snapshot("sliced", frame.iloc[1:])  # RangeIndex(1, 3): row positions, not data
    assert list(ws.load("sliced").to_pandas().columns) == ["a"]


def test_an_index_named_like_a_column_is_refused(ws: Workspace) -> None:
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name="a"))
    with pytest.raises(SourceError, match=r"index \['a'\]") as info:
        ws.snapshot("clash", frame)
    assert "rename_axis" in (info.value.hint or "")


def test_duplicate_column_names_are_refused(ws: Workspace) -> None:
    with pytest.raises(SourceError, match="Duplicate column names"):
        ws.snapshot("dup", pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_a_series_is_a_one_column_table(ws: Workspace) -> None:
    ws.snapshot("series", pd.Series([1.5, 2.5], name="x"))
    assert ws.load("series").to_pandas().to_dict("list") == {"x": [1.5, 2.5]}
    ws.snapshot("unnamed", pd.Series(["a"]))
    assert list(ws.load("unnamed").to_pandas().columns) == ["0"]  # as to_frame() names it


@pytest.mark.parametrize("source", [123, [1, 2], b"data"])
def test_other_objects_are_refused_naming_what_is_accepted(ws: Workspace, source: object) -> None:
    with pytest.raises(SourceError, match=f"object of type {type(source).__name__}") as info:
        ws.snapshot("odd", source)
    assert "DataFrame" in (info.value.hint or "") and "path" in (info.value.hint or "")
    assert ws.datasets() == []


# -- SQL sources --------------------------------------------------------------------------------


def money_db(path: Path, rows: list[tuple[int, object]]) -> str:
    """A SQLite file with `m(id int, amt numeric(10, 2))` holding `rows`; its URL."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE m (id int, amt numeric(10, 2))")
        conn.executemany("INSERT INTO m VALUES (?, ?)", rows)
    conn.close()
    return f"sqlite:///{path}"


def amt_type(ws: Workspace, ref: str) -> str:
    return {f.name: f.type for f in ws.version(ref).schema.fields}["amt"]


@sqlite_only
def test_a_declared_decimal_does_not_depend_on_its_values(ws: Workspace, tmp_path: Path) -> None:
    """SQLite stores numeric(10, 2) values as integers or floats: each slice is still decimal."""
    url = money_db(tmp_path / "m.db", [(1, 2), (2, 1.25), (3, None), (4, 0.1)])
    for i in (1, 2, 3, 4):
        ws.snapshot(f"q{i}", url, query=f"SELECT * FROM m WHERE id = {i}")
        assert amt_type(ws, f"q{i}") == "decimal128(10, 2)"
    assert ws.load("q1").to_arrow().column("amt").to_pylist() == [Decimal("2.00")]
    assert ws.load("q4").to_arrow().column("amt").to_pylist() == [Decimal("0.10")]
    ws.snapshot("whole", url, table="m")
    assert amt_type(ws, "whole") == "decimal128(10, 2)"
    assert ws.load("whole").to_arrow().column("amt").to_pylist() == [
        Decimal("2.00"),
        Decimal("1.25"),
        None,
        Decimal("0.10"),
    ]


def test_query_slices_append_as_new_files(ws: Workspace, tmp_path: Path) -> None:
    """Each appended query result is a file named by its content, beside the earlier ones."""
    url = money_db(tmp_path / "m.db", [(1, 2), (2, 1.25), (3, None)])
    ws.snapshot("slices", url, query="SELECT * FROM m WHERE id = 1")
    for i in (2, 3):
        ws.snapshot("slices", url, query=f"SELECT * FROM m WHERE id = {i}", append=True)
    version = ws.version("slices", with_files=True)
    assert version.number == 3 and len(version.files) == 3
    assert amt_type(ws, "slices") == "decimal128(10, 2)"
    amounts = ws.load("slices").to_arrow().column("amt").to_pylist()
    assert sorted(amounts, key=lambda a: (a is None, a)) == [Decimal("1.25"), Decimal("2.00"), None]


@sqlite_only
@pytest.mark.parametrize(
    ("values", "typed"),
    [
        ((1.25, 1.255), "double"),  # 1.255 would round to 1.26 or 1.25
        ((2, 123456789), "int64"),  # 123456789.00 needs 11 digits
        ((1.25, 1e20), "double"),
        ((1.25, float("inf")), "double"),
    ],
)
def test_numbers_that_the_decimal_would_change_keep_their_type(
    ws: Workspace, tmp_path: Path, values: tuple[float, float], typed: str
) -> None:
    url = money_db(tmp_path / "m.db", list(enumerate(values)))
    ws.snapshot("loose", url, table="m")
    assert amt_type(ws, "loose") == typed
    assert ws.load("loose").to_arrow().column("amt").to_pylist() == list(values)


@sqlite_only
def test_batches_that_disagree_on_a_column_type_are_typed_as_one_batch(
    ws: Workspace, tmp_path: Path
) -> None:
    """Rows arrive in 50,000-row batches: a later batch's 'abc' makes the column text too."""
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id int, v)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, i) for i in range(50_000)])
        conn.execute("INSERT INTO t VALUES (50000, 'abc')")
    conn.close()
    for name, order in (("late", "id"), ("early", "id DESC")):
        ws.snapshot(name, f"sqlite:///{path}", query=f"SELECT id, v FROM t ORDER BY {order}")
        schema = {f.name: f.type for f in ws.version(name).schema.fields}
        assert schema == {"id": "int64", "v": "string"}
    late = ws.load("late").to_arrow().column("v").to_pylist()
    assert late[:2] == ["0", "1"] and late[-1] == "abc"
    assert sorted(late) == sorted(ws.load("early").to_arrow().column("v").to_pylist())


@sqlite_only
def test_a_decimal_that_one_batch_cannot_hold_makes_the_column_double(
    ws: Workspace, tmp_path: Path
) -> None:
    """1.255 does not fit numeric(10, 2): its batch is double, so the whole column is double."""
    url = money_db(tmp_path / "m.db", [(i, 1.25) for i in range(50_000)] + [(50_000, 1.255)])
    ws.snapshot("m", url, query="SELECT * FROM m ORDER BY id")
    assert amt_type(ws, "m") == "double"
    assert ws.load("m").to_arrow().column("amt").to_pylist()[-2:] == [1.25, 1.255]


def ops_db(path: Path) -> Path:
    """A SQLite file holding table `t` with two rows."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id int, v text)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b")])
    conn.close()
    return path


@sqlite_only
def test_a_sqlite_file_in_mlcd_yaml_is_relative_to_the_workspace_root(
    ws: Workspace, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops_db(ws.root / "ops.db")
    config = ws.root / "mlcd.yaml"
    config.write_text(
        config.read_text().replace(
            "datasets: {}",
            "datasets:\n  q: {source: 'sqlite:///ops.db', table: t}\n"
            "  u: {source: 'sqlite:///file:ops.db?mode=ro&uri=true', table: t}",
        )
    )
    sub = ws.root / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    for name in ("q", "u"):
        done = cli("data", "snapshot", name)
        assert done.code == 0, done.err
        assert ws.version(name).rows == 2
    assert list(sub.iterdir()) == []  # no empty ops.db made in the current folder
    # on the command line, a relative file is relative to the current folder
    assert cli("data", "snapshot", "c", "sqlite:///../ops.db", "--table", "t").code == 0
    done = cli("data", "snapshot", "d", "sqlite:///ops.db", "--table", "t")
    assert done.code == 1
    error = f"error: cannot connect to sqlite:///ops.db: database file {sub / 'ops.db'} does not"
    assert done.err.startswith(error)
    assert list(sub.iterdir()) == []


@sqlite_only
@pytest.mark.parametrize("url", ["sqlite:///{}", "sqlite:///file:{}?mode=ro&uri=true"])
def test_a_missing_sqlite_file_is_an_error_and_is_not_created(
    ws: Workspace, tmp_path: Path, url: str
) -> None:
    missing = tmp_path / "nofile.db"
    with pytest.raises(SourceError, match=f"database file {missing} does not exist"):
        ws.snapshot("x", url.format(missing), table="t")
    assert not missing.exists()
    assert ws.datasets() == []


# -- files on disk ------------------------------------------------------------------------------


def csv_folder(root: Path) -> Path:
    """root/sub/f.csv, one row."""
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.csv").write_text("a\n1\n")
    return root


def test_a_symlink_back_to_a_containing_folder_is_refused(ws: Workspace, tmp_path: Path) -> None:
    source = csv_folder(tmp_path / "sl")
    (source / "sub" / "loop").symlink_to("..")
    link = source / "sub" / "loop"
    with pytest.raises(SourceError, match=re.escape(f"symlink {link} leads back to {source},")):
        ws.snapshot("looped", source)
    (source / "sub" / "loop").unlink()
    (source / "sub" / "self").symlink_to("self")
    with pytest.raises(SourceError, match=r"symlink \S+/sub/self cannot be followed"):
        ws.snapshot("looped", source)
    assert ws.datasets() == []


def test_symlinks_that_do_not_loop_are_followed(ws: Workspace, tmp_path: Path) -> None:
    source = csv_folder(tmp_path / "sl")
    (source / "again").symlink_to("sub")  # the same folder twice, not a loop
    outside = csv_folder(tmp_path / "outside")
    (source / "out").symlink_to(outside / "sub")
    v = ws.snapshot("linked", source).version
    assert [f.path for f in ws.version("linked", with_files=True).files] == [
        "again/f.csv",
        "out/f.csv",
        "sub/f.csv",
    ]
    assert v.rows == 3


def test_a_broken_symlink_is_named(ws: Workspace, tmp_path: Path) -> None:
    source = csv_folder(tmp_path / "sl")
    (source / "sub" / "broken.csv").symlink_to("gone.csv")
    broken = re.escape(f"symlink {source / 'sub' / 'broken.csv'} points to gone.csv, which")
    with pytest.raises(SourceError, match=broken):
        ws.snapshot("broken", source)
    with pytest.raises(SourceError, match=broken):
        ws.snapshot("broken", source / "sub" / "broken.csv")
    (source / "sub" / ".hidden.csv").symlink_to("gone.csv")  # ignored names stay ignored
    (source / "sub" / "broken.csv").unlink()
    assert ws.snapshot("broken", source).version.rows == 1


@sqlite_only
def test_a_query_with_a_column_name_twice_is_refused(ws: Workspace, cli: Cli) -> None:
    ops_db(ws.root / "ops.db")
    done = cli("data", "snapshot", "q", "sqlite:///ops.db", "--query", "SELECT id, v, id FROM t")
    assert done.code == 1
    assert done.err.splitlines() == [
        "error: query against sqlite:///ops.db returns more than one column named 'id'",
        "hint: name each column once, with AS: SELECT id, id AS id_2 ...",
    ]
    query = "SELECT id, v, id AS id_2 FROM t"
    assert cli("data", "snapshot", "q", "sqlite:///ops.db", "--query", query).code == 0
    assert [f.name for f in ws.version("q").schema.fields] == ["id", "v", "id_2"]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@sqlite_only
def test_a_database_that_refuses_the_connection_is_one_line(ws: Workspace, cli: Cli) -> None:
    url = f"postgresql://u:s3cret@127.0.0.1:{closed_port()}/db"
    done = cli("data", "snapshot", "x", url, "--table", "t")
    assert done.code == 1
    error, hint = done.err.splitlines()
    assert error.startswith(f"error: cannot connect to {url.replace('s3cret', '***')}: ")
    assert "Connection refused" in error and "s3cret" not in done.err and "\t" not in done.err
    assert hint.startswith("hint: check that the database server is running")


@sqlite_only
def test_a_sqlite_path_that_is_no_file_cannot_be_connected_to(ws: Workspace, cli: Cli) -> None:
    (ws.root / "folder.db").mkdir()
    done = cli("data", "snapshot", "x", "sqlite:///folder.db", "--table", "t")
    assert done.code == 1
    assert done.err.splitlines() == [
        "error: cannot connect to sqlite:///folder.db: unable to open database file",
        "hint: check that folder.db is a SQLite database you can read",
    ]


@pytest.mark.slow  # starts PostgreSQL
@sqlite_only
def test_a_missing_postgresql_database_is_a_connection_error(
    ws: Workspace, postgres_url: str
) -> None:
    import sqlalchemy as sa

    url = sa.make_url(postgres_url).set(database="no_such_db").render_as_string(False)
    with pytest.raises(SourceError, match='database "no_such_db" does not exist') as info:
        ws.snapshot("x", url, table="t")
    assert "\n" not in info.value.message and "server is running" in (info.value.hint or "")


@pytest.mark.parametrize("name", [b"caf\xe9.csv", b"k=caf\xe9/f.csv"])
def test_a_path_that_is_not_utf8_is_named(ws: Workspace, tmp_path: Path, name: bytes) -> None:
    source = csv_folder(tmp_path / "src")
    bad = os.fsencode(source) + b"/" + name
    os.makedirs(os.path.dirname(bad), exist_ok=True)
    with open(bad, "wb") as f:
        f.write(b"a\n1\n")
    with pytest.raises(SourceError, match=re.escape(f"path {bad!r} is not valid UTF-8")):
        ws.snapshot("latin", source)
    assert ws.datasets() == []


# -- Hive partition values ----------------------------------------------------------------------


def partitioned(root: Path, key: str, values: list[str]) -> Path:
    """root/<key>=<value>/f.csv for each value, each with one row `a` = its index."""
    for i, value in enumerate(values):
        (root / f"{key}={value}").mkdir(parents=True)
        (root / f"{key}={value}" / "f.csv").write_text(f"a\n{i}\n")
    return root


@pytest.mark.parametrize(
    ("values", "typed"),
    [
        (["12345678901234567890", "12345678901234567891"], "string"),  # beyond int64
        (["9223372036854775807", "-9223372036854775808"], "int64"),  # its bounds
        (["01234", "1"], "string"),  # a leading zero is part of the name
        (["+1", "2"], "string"),
        (["-0", "1"], "string"),
        (["0", "-5", "17"], "int64"),
        (["1.5", "2"], "float64"),  # an integer beside decimals, exactly a float
        (["1.5", "9007199254740993"], "string"),  # 2**53 + 1 is no float64
        (["1.50", "2.5"], "string"),
        (["1", "1.0"], "string"),  # would be one value
        (["1e5"], "string"),
        (["2024-01-31", "2024-02-01"], "date32"),
        (["2024-02-30"], "string"),
    ],
)
def test_partition_values_are_typed_only_when_nothing_is_lost(
    ws: Workspace, tmp_path: Path, values: list[str], typed: str
) -> None:
    ws.snapshot("p", partitioned(tmp_path / "src", "k", values))
    assert ws.version("p").partitioning == {"k": typed}
    frame = ws.load("p").to_pandas().sort_values("a")
    assert len(set(frame["k"])) == len(values)  # no two folders became one value
    if typed == "string":
        assert list(frame["k"]) == values


def test_a_partition_key_twice_in_one_path_is_refused(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "src" / "a=1" / "a=2").mkdir(parents=True)
    (tmp_path / "src" / "a=1" / "a=2" / "f.csv").write_text("x\n1\n")
    with pytest.raises(SourceError, match=re.escape("path a=1/a=2/f.csv names partition key 'a'")):
        ws.snapshot("twice", tmp_path / "src")
    assert ws.datasets() == []
