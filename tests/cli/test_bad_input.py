"""Every bad input gives one `error:` line naming the thing, exit 1, and changes nothing stored."""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.errors import QueryError
from mlcd.workspace import Workspace
from tests.cli.conftest import WITHOUT_DAC_OVERRIDE, Cli, Result, assert_error, mlcd, state
from tests.conftest import write_partitions


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding sales@1 (three partitions of data/sales), made once per module."""
    with Workspace.init(tmp_path_factory.mktemp("template") / "ws") as ws:
        sales = write_partitions(
            ws.root / "data" / "sales", ["2024-01-01", "2024-01-02", "2024-01-03"]
        )
        assert ws.snapshot("sales", sales).version.ref == "sales@1"
        return ws.root


@pytest.fixture
def v1(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A fresh copy of the template workspace in tmp_path/ws, which is the current folder."""
    root = shutil.copytree(template, tmp_path / "ws")
    monkeypatch.chdir(root)
    with Workspace(root) as ws:
        yield ws


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A valid source whose content is not in the store yet: storing it would add blobs."""
    return write_partitions(tmp_path / "fresh", ["2024-03-01", "2024-03-02"], seed=42)


def fails(cli: Cli, root: Path, *args: str | Path) -> tuple[str, Result]:
    """Run a command that must fail; assert it left versions, datasets and blobs as they were."""
    before = state(root)
    r = cli(*args)
    line = assert_error(r)
    assert r.out == ""
    after = state(root)
    new = sorted(set(after.blobs) - set(before.blobs))
    assert not new, f"refused, yet stored {len(new)} new blob(s) under .mlcd/objects/b3: {new}"
    assert after == before, f"{args} changed the workspace: {before} -> {after}"
    return line, r


# -- datasets and versions that do not exist -----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["show", "nope"],
        ["show", "nope@1"],
        ["log", "nope"],
        ["diff", "nope@2"],
        ["diff", "nope@1", "sales@1"],
        ["materialize", "nope@1", "out"],
    ],
    ids=" ".join,
)
def test_unknown_dataset(v1: Workspace, cli: Cli, args: list[str]) -> None:
    line, r = fails(cli, v1.root, "data", *args)
    assert "dataset 'nope' does not exist" in line
    assert "known datasets: sales" in r.err
    assert not (v1.root / "out").exists()


@pytest.mark.parametrize(
    "args",
    [["show", "sales@9"], ["diff", "sales@1", "sales@9"], ["materialize", "sales@9", "out"]],
    ids=" ".join,
)
def test_unknown_version(v1: Workspace, cli: Cli, args: list[str]) -> None:
    line, r = fails(cli, v1.root, "data", *args)
    assert "dataset 'sales' has no version 9" in line
    assert "hint: versions are 1..1" in r.err
    assert not (v1.root / "out").exists()


def test_no_parent(v1: Workspace, cli: Cli) -> None:
    line, _ = fails(cli, v1.root, "data", "diff", "sales@1")
    assert "sales@1 has no parent" in line


@pytest.mark.parametrize("ref", ["sales@", "sales@x", "sales@0", "sales@-1", "sales@1.5", "@3"])
@pytest.mark.parametrize("command", ["show", "diff", "materialize"])
def test_malformed_ref(v1: Workspace, cli: Cli, ref: str, command: str) -> None:
    args = [ref, "out"] if command == "materialize" else [ref]
    line, _ = fails(cli, v1.root, "data", command, *args)
    assert repr(ref) in line
    assert not (v1.root / "out").exists()


# -- names that would escape the store -----------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "/abs", "", "a/b", "..", "x/../../y", ".hidden", "a b"])
@pytest.mark.parametrize("command", ["snapshot", "log", "show"])
def test_bad_name(
    v1: Workspace, cli: Cli, fresh: Path, tmp_path: Path, name: str, command: str
) -> None:
    args = [name, fresh] if command == "snapshot" else [name]
    line, _ = fails(cli, v1.root, "data", command, *args)
    assert "dataset name" in line
    assert (repr(name) if name else "is empty") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "ws"]


def test_bad_name_in_config(v1: Workspace, cli: Cli) -> None:
    (v1.root / "mlcd.yaml").write_text("project: p\ndatasets:\n  ../x:\n    source: data\n")
    line, _ = fails(cli, v1.root, "data", "list")
    assert "datasets: invalid dataset name '../x'" in line


# -- sources that cannot be snapshotted ----------------------------------------------------


def test_empty_source(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "date=2024-01-01").mkdir(parents=True)
    (empty / "_SUCCESS").touch()  # markers and hidden files are not data
    (empty / ".DS_Store").touch()
    line, r = fails(cli, v1.root, "data", "snapshot", "sales", empty)
    assert f"source {empty} holds no data files" in line
    assert ".parquet" in r.err  # the hint says what a source is


def test_missing_source(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", tmp_path / "nowhere")
    assert f"source {tmp_path / 'nowhere'} does not exist" in line


def test_missing_relative_source(v1: Workspace, cli: Cli) -> None:
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", "data/typo")
    assert f"source {v1.root / 'data' / 'typo'} does not exist" in line


def test_unreadable_file(v1: Workspace, cli: Cli, fresh: Path) -> None:
    locked = fresh / "date=2024-03-02" / "part-0.parquet"
    locked.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads a chmod 000 file: run mlcd without that capability
            cli = functools.partial(mlcd, cwd=v1.root, prefix=WITHOUT_DAC_OVERRIDE)
        line, _ = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    finally:
        locked.chmod(0o644)
    assert str(locked) in line and "not readable" in line


@pytest.mark.parametrize(
    "garbage",
    [b"not parquet at all", b"PAR1" + os.urandom(2000) + b"PAR1", b""],
    ids=["text", "magic-only", "empty"],
)
def test_corrupt_parquet(v1: Workspace, cli: Cli, fresh: Path, garbage: bytes) -> None:
    bad = fresh / "date=2024-03-03" / "part-0.parquet"
    bad.parent.mkdir()
    bad.write_bytes(garbage)
    line, r = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    assert "file date=2024-03-03/part-0.parquet is not a readable parquet file" in line
    assert "fix or remove the file" in r.err


def test_corrupt_csv(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "csv"
    src.mkdir()
    (src / "a.csv").write_text("id,name\n1,ann\n")
    (src / "b.csv").write_text("id,name\n1,ann,extra,fields\n2\n")
    line, _ = fails(cli, v1.root, "data", "snapshot", "people", src)
    assert "file b.csv is not a readable csv file" in line


def test_unsupported_extension(v1: Workspace, cli: Cli, fresh: Path) -> None:
    (fresh / "README.txt").write_text("about this data")
    line, r = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    assert f"file {fresh / 'README.txt'} is not a supported data file" in line
    assert ".parquet" in r.err and ".csv" in r.err


def test_mixed_formats(v1: Workspace, cli: Cli, fresh: Path) -> None:
    extra = fresh / "date=2024-03-03"
    extra.mkdir()
    (extra / "part-0.csv").write_text("amount,items,channel\n1.0,2,web\n")
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    assert "mixes csv (date=2024-03-03/part-0.csv) and parquet" in line


def test_mixed_partitioning(v1: Workspace, cli: Cli, fresh: Path) -> None:
    pq.write_table(pa.table({"amount": [1.0]}), fresh / "loose.parquet")
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    assert "loose.parquet" in line and "partitioned by" in line


def test_schema_conflict(v1: Workspace, cli: Cli, fresh: Path) -> None:
    odd = fresh / "date=2024-03-03"
    odd.mkdir()
    pq.write_table(pa.table({"amount": ["a string"]}), odd / "part-0.parquet")
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", fresh)
    assert "column 'amount'" in line and "date=2024-03-03/part-0.parquet" in line


# -- SQL sources ---------------------------------------------------------------------------


@pytest.fixture
def ops(v1: Workspace) -> str:
    """A real SQLite file with one table, `orders`; returns its URL."""
    db = sqlite3.connect(v1.root / "ops.db")
    db.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    db.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 9.5), (2, 3.0)])
    db.commit()
    db.close()
    return f"sqlite:///{v1.root / 'ops.db'}"


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--table", "orderz", "no such table: orderz"),
        ("--query", "SELECT * FROM orderz", "no such table: orderz"),
        ("--query", "SELECT nope FROM orders", "no such column: nope"),
        ("--query", "SELEC 1", 'near "SELEC": syntax error'),
    ],
)
def test_sql_error(v1: Workspace, cli: Cli, ops: str, option: str, value: str, reason: str) -> None:
    line, _ = fails(cli, v1.root, "data", "snapshot", "orders", ops, option, value)
    assert f"query against {ops} failed: {reason}" in line


def test_sql_bad_table_name(v1: Workspace, cli: Cli, ops: str) -> None:
    line, _ = fails(cli, v1.root, "data", "snapshot", "orders", ops, "--table", "x; DROP")
    assert "invalid table name 'x; DROP'" in line


def test_sql_needs_query(v1: Workspace, cli: Cli, ops: str) -> None:
    line, r = fails(cli, v1.root, "data", "snapshot", "orders", ops)
    assert "needs a query or a table" in line
    assert "--table" in r.err


def test_query_needs_database(v1: Workspace, cli: Cli, fresh: Path) -> None:
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", fresh, "--query", "SELECT 1")
    assert "need a database URL" in line and str(fresh) in line


def test_sql_missing_database_file(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such.db'}"
    line, _ = fails(cli, v1.root, "data", "snapshot", "orders", url, "--table", "orders")
    assert url in line


# -- mlcd.yaml -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("project: p\ndatasets: [\n", "mlcd.yaml at line 3 is not valid YAML"),
        ("project: p\n  seed: 1\n bad", "is not valid YAML"),
        ("project: p\nbogus: 1\n", "bogus: unknown key"),
        ("project: p\ndatasets:\n  sales:\n    sourc: data\n", "datasets.sales.sourc: unknown key"),
        ("project: p\ndatasets:\n  sales:\n    source: 3\n", "datasets.sales.source: "),
        ("project: p\ndatasets:\n  sales:\n    source: [a]\n", "datasets.sales.source: "),
        ("project: p\ndatasets:\n  sales:\n    source: ''\n", "datasets.sales.source: "),
        ("project: p\nseed: many\n", "seed: "),
        ("project: p\ndatasets: 5\n", "datasets: "),
        ("seed: 1\n", "project: required key is missing"),
        ("project: ../p\n", "project: invalid project name '../p'"),
        ("- a\n- b\n", "expected a mapping of keys, got list"),
        (
            "project: p\ndatasets:\n  s:\n    source: data\n    query: SELECT 1\n",
            "datasets.s: query/table need a database URL",
        ),
    ],
)
@pytest.mark.parametrize("command", [["list"], ["snapshot", "sales"]], ids=" ".join)
def test_bad_config(v1: Workspace, cli: Cli, yaml: str, expected: str, command: list[str]) -> None:
    (v1.root / "mlcd.yaml").write_text(yaml)
    line, _ = fails(cli, v1.root, "data", *command)
    assert line.startswith("error: mlcd.yaml")
    assert expected in line


def test_config_without_source(v1: Workspace, cli: Cli) -> None:
    line, r = fails(cli, v1.root, "data", "snapshot", "other")
    assert "no source given for dataset 'other'" in line
    assert "datasets.other.source" in r.err


def test_configured_source_missing(v1: Workspace, cli: Cli) -> None:
    config = v1.root / "mlcd.yaml"
    config.write_text(
        config.read_text().replace("datasets: {}", "datasets:\n  sales:\n    source: data/old")
    )
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales")
    assert f"source {v1.root / 'data' / 'old'} does not exist" in line


# -- partition filters (library: the CLI has no reader command yet) ------------------------


@pytest.mark.parametrize(
    "where", ["date >>> '2024-01-01'", "date = ", "nope = 1", "date = '2024-01-01' AND"]
)
def test_bad_partition_filter(v1: Workspace, where: str) -> None:
    with pytest.raises(QueryError) as caught:
        v1.load("sales@1", partitions=where)
    message = caught.value.message
    assert repr(where) in message
    assert "\n" not in message, f"a one-line message, not the DB's multi-line report: {message!r}"
    assert caught.value.hint is not None and "date" in caught.value.hint


# -- append and materialize ----------------------------------------------------------------


def test_append_to_missing_dataset(v1: Workspace, cli: Cli, fresh: Path) -> None:
    line, r = fails(cli, v1.root, "data", "snapshot", "new", fresh, "--append")
    assert "cannot append to dataset 'new': it does not exist" in line
    assert "mlcd data snapshot new SOURCE" in r.err


def test_append_existing_file(v1: Workspace, cli: Cli) -> None:
    day = v1.root / "data" / "sales" / "date=2024-01-01"
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", day, "--append")
    assert "sales@1 already has date=2024-01-01/part-0.parquet" in line


def test_append_other_format(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    part = tmp_path / "date=2024-02-01"
    part.mkdir()
    (part / "x.csv").write_text("amount,items,channel\n1.0,2,web\n")
    line, _ = fails(cli, v1.root, "data", "snapshot", "sales", part, "--append")
    assert "cannot append csv files to sales@1" in line


def test_materialize_into_non_empty(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    line, _ = fails(cli, v1.root, "data", "materialize", "sales@1", dest)
    assert f"destination {dest} exists and is not an empty folder" in line
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert (dest / "keep.txt").read_text() == "mine"


def test_materialize_onto_file(v1: Workspace, cli: Cli, tmp_path: Path) -> None:
    dest = tmp_path / "a-file"
    dest.write_text("mine")
    line, _ = fails(cli, v1.root, "data", "materialize", "sales@1", dest)
    assert str(dest) in line
    assert dest.read_text() == "mine"


# -- the same, across the process boundary -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["data", "show", "sales@9"], "has no version 9"),
        (["data", "show", "@3"], "'@3'"),
        (["data", "snapshot", "../x", "data"], "'../x'"),
        (["data", "snapshot", "sales", "nowhere"], "nowhere does not exist"),
    ],
)
def test_process(v1: Workspace, args: list[str], needle: str) -> None:
    before = state(v1.root)
    r = mlcd(*args, cwd=v1.root)
    assert_error(r, needle)
    assert r.out == ""
    assert state(v1.root) == before


@pytest.mark.parametrize(
    "args",
    [
        ("data", "show", "nope@1", "--json"),
        ("data", "log", "sales@x", "--json"),
        ("data", "diff", "sales@1", "sales@7", "--json"),
        ("data", "snapshot", "sales", "missing-folder", "--json"),
    ],
)
def test_json_errors_are_json_on_stdout_too(v1: Workspace, cli: Cli, args: tuple[str, ...]) -> None:
    """A script asking for --json can parse a failure: stdout holds the error as JSON, while
    stderr keeps the usual `error:`/`hint:` lines."""
    import json

    before = state(v1.root)
    r = cli(*args)
    line = assert_error(r)
    assert state(v1.root) == before
    error = json.loads(r.out)["error"]
    assert line == f"error: {error['message']}"
    assert error["type"] in {"NotFoundError", "InvalidNameError", "SourceError"}
    assert error["hint"] is None or f"hint: {error['hint']}" in r.err
