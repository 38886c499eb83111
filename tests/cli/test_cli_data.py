"""`mlcd init` and `mlcd data ...` end to end, on real files, in-process and as real processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd._version import __version__
from mlcd.store import hash_file
from mlcd.workspace import Workspace
from tests.cli.conftest import Cli, assert_error, files_under, mlcd, state
from tests.conftest import age, write_partitions

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def snap(cli: Cli, *args: str | Path) -> dict:
    return cli("data", "snapshot", *map(str, args), "--json").json()


def put_day(source: Path, day: str, seed: int, rows: int = 100) -> None:
    """Add or replace one partition, leaving the other files' stat untouched (still indexed)."""
    staged = write_partitions(source.parent / f".staged-{day}-{seed}", [day], rows, seed)
    target = source / f"date={day}"
    if target.exists():
        shutil.rmtree(target)
    shutil.move(staged / f"date={day}", target)
    staged.rmdir()


# -- init ----------------------------------------------------------------------------------


def test_init(tmp_path: Path) -> None:
    r = mlcd("init", "proj", cwd=tmp_path)
    root = tmp_path / "proj"
    assert r.code == 0, r.err
    assert "proj" in r.out
    text = (root / "mlcd.yaml").read_text()
    assert "project: proj" in text
    assert "# Datasets:" in text and "#    source: data/sales/" in text
    assert (root / ".mlcd").is_dir()
    assert "/.mlcd/" in (root / ".gitignore").read_text().splitlines()
    assert Workspace(root).config.project == "proj"


def test_init_keeps_gitignore(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc")  # no trailing newline
    monkeypatch.chdir(tmp_path)
    assert cli("init", "--project", "churn").code == 0
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["*.pyc", "/.mlcd/"]
    assert Workspace(tmp_path).config.project == "churn"


def test_init_twice(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("init").code == 0
    before = (tmp_path / "mlcd.yaml").read_text()
    assert_error(cli("init"), "already an mlcd workspace")
    assert (tmp_path / "mlcd.yaml").read_text() == before
    assert (tmp_path / ".gitignore").read_text().count("/.mlcd/") == 1


# -- outside a workspace -------------------------------------------------------------------

DATA_COMMANDS = [
    ["snapshot", "sales", "data"],
    ["list"],
    ["show", "sales@1"],
    ["diff", "sales@1", "sales@2"],
    ["log", "sales"],
    ["materialize", "sales@1", "out"],
]


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=lambda a: a[0])
def test_outside_workspace(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("data", *args)
    assert_error(r, str(tmp_path), "not inside an mlcd workspace")
    assert r.err.splitlines()[1] == "hint: run `mlcd init` to make one"
    assert not (tmp_path / "out").exists()


def test_outside_workspace_process(tmp_path: Path) -> None:
    r = mlcd("data", "list", cwd=tmp_path)
    assert_error(r, "not inside an mlcd workspace")
    assert "mlcd init" in r.err


def test_found_from_subfolder(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    deep = ws.root / "a" / "b"
    deep.mkdir(parents=True)
    r = mlcd("data", "list", "--json", cwd=deep)
    assert [v["ref"] for v in r.json()] == ["sales@1"]


# -- snapshot ------------------------------------------------------------------------------


def test_snapshot_created(ws: Workspace, sales: Path, cli: Cli) -> None:
    r = cli("data", "snapshot", "sales", "data/sales")
    assert r.code == 0, r.err
    assert r.out.startswith("sales@1 created: 3 files, 300 rows")
    assert r.err == ""
    assert [v.ref for v in ws.log("sales")] == ["sales@1"]


def test_snapshot_json(ws: Workspace, sales: Path, cli: Cli) -> None:
    v = snap(cli, "sales", sales)
    assert (v["ref"], v["version"], v["parent"], v["created"]) == ("sales@1", 1, None, True)
    assert (v["rows"], v["files"], v["format"]) == (300, 3, "parquet")
    assert (v["files_ingested"], v["files_reused"]) == (3, 0)
    assert (
        v["bytes"] == v["bytes_ingested"] == sum(p.stat().st_size for p in sales.rglob("*.parquet"))
    )
    assert v["partitioning"] == {"date": "date32"}
    assert [c["name"] for c in v["schema"]] == ["amount", "items", "channel"]
    assert v["content_id"].startswith("b3:")
    assert v["source"] == str(sales)


def test_snapshot_unchanged(ws: Workspace, sales: Path, cli: Cli) -> None:
    first = snap(cli, "sales", sales)
    r = cli("data", "snapshot", "sales", "data/sales")
    assert r.code == 0, r.err
    assert "unchanged" in r.out and "sales@1" in r.out
    again = snap(cli, "sales", sales)
    assert (again["created"], again["ref"]) == (False, "sales@1")
    assert (again["files_ingested"], again["files_reused"]) == (0, 3)
    assert again["content_id"] == first["content_id"]
    assert len(ws.log("sales")) == 1


def test_snapshot_changed_file(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    put_day(sales, "2024-01-02", seed=7)
    v = snap(cli, "sales", sales)
    assert (v["ref"], v["parent"], v["created"]) == ("sales@2", 1, True)
    assert (v["files_ingested"], v["files_reused"]) == (1, 2)


def test_snapshot_rehash(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    v = snap(cli, "sales", sales, "--rehash")
    assert (v["created"], v["ref"]) == (False, "sales@1")
    assert (v["files_ingested"], v["files_reused"]) == (3, 0)


def test_snapshot_message(ws: Workspace, sales: Path, cli: Cli) -> None:
    v = snap(cli, "sales", sales, "-m", "first cut")
    assert v["message"] == "first cut"
    assert ws.version("sales@1").message == "first cut"
    put_day(sales, "2024-01-04", seed=4)
    assert snap(cli, "sales", sales, "--message", "day 4")["message"] == "day 4"
    assert [v.message for v in ws.log("sales")] == ["day 4", "first cut"]


def test_snapshot_append(ws: Workspace, sales: Path, cli: Cli, tmp_path: Path) -> None:
    snap(cli, "sales", sales)
    new = write_partitions(tmp_path / "incoming", ["2024-01-04"], rows=50, seed=3)
    v = snap(cli, "sales", new / "date=2024-01-04", "--append")
    assert (v["ref"], v["parent"], v["files"], v["rows"]) == ("sales@2", 1, 4, 350)
    assert (v["files_ingested"], v["files_reused"]) == (1, 0)
    paths = [f.path for f in ws.version("sales@2", with_files=True).files]
    assert paths[-1] == "date=2024-01-04/part-0.parquet"
    assert len(paths) == 4


def test_snapshot_from_config(ws: Workspace, sales: Path) -> None:
    config = ws.root / "mlcd.yaml"
    config.write_text(
        config.read_text().replace("datasets: {}", "datasets:\n  sales:\n    source: data/sales")
    )
    (ws.root / "sub").mkdir()  # the configured source is relative to the workspace, not cwd
    r = mlcd("data", "snapshot", "sales", "--json", cwd=ws.root / "sub")
    v = r.json()
    assert (v["ref"], v["rows"], v["source"]) == ("sales@1", 300, str(sales))


def test_snapshot_relative_to_cwd(ws: Workspace, sales: Path) -> None:
    sub = ws.root / "data"
    r = mlcd("data", "snapshot", "sales", "sales", "--json", cwd=sub)
    assert r.json()["source"] == str(sales)


def test_snapshot_single_file_csv(ws: Workspace, cli: Cli) -> None:
    csv = ws.root / "people.csv"
    csv.write_text("id,name\n1,ann\n2,bob\n3,cy\n")
    v = snap(cli, "people", csv)
    assert (v["format"], v["rows"], v["files"]) == ("csv", 3, 1)
    assert [c["name"] for c in v["schema"]] == ["id", "name"]


def test_snapshot_sqlite(ws: Workspace, cli: Cli) -> None:
    import sqlite3

    db = sqlite3.connect(ws.root / "ops.db")
    db.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    db.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "ann"), (2, "bob")])
    db.commit()
    db.close()
    v = snap(cli, "customers", "sqlite:///ops.db", "--table", "customers")
    assert (v["rows"], v["format"]) == (2, "parquet")
    assert "customers" in v["source"]
    assert state(ws.root).temp == []


# -- list, show, log, diff -----------------------------------------------------------------


def test_list(ws: Workspace, sales: Path, cli: Cli, tmp_path: Path) -> None:
    r = cli("data", "list")
    assert (r.code, r.out.strip()) == (0, "no datasets yet: mlcd data snapshot NAME SOURCE")
    assert cli("data", "list", "--json").json() == []
    snap(cli, "sales", sales)
    put_day(sales, "2024-01-04", seed=4)
    snap(cli, "sales", sales)
    snap(cli, "other", write_partitions(tmp_path / "other", ["2024-02-01"]))
    r = cli("data", "list")
    assert "sales@2" in r.out and "other@1" in r.out and "sales@1" not in r.out
    listed = cli("data", "list", "--json").json()
    assert [(v["name"], v["version"], v["rows"]) for v in listed] == [
        ("other", 1, 100),
        ("sales", 2, 400),
    ]


def test_show(ws: Workspace, sales: Path, cli: Cli) -> None:
    v1 = snap(cli, "sales", sales, "-m", "hello")
    r = cli("data", "show", "sales@1")
    assert r.code == 0, r.err
    for text in ["sales@1", v1["content_id"], "hello", "parquet", "300", "amount", "double"]:
        assert text in r.out
    assert "date=2024-01-01/part-0.parquet" not in r.out
    files = cli("data", "show", "sales", "--files").out
    assert all(f"date={d}/part-0.parquet" in files for d in DAYS)


def test_show_json(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    shown = cli("data", "show", "sales@latest", "--json").json()
    assert (shown["ref"], shown["rows"], shown["files"]) == ("sales@1", 300, 3)
    entries = shown["file_list"]
    assert [f["path"] for f in entries] == [f"date={d}/part-0.parquet" for d in DAYS]
    for f in entries:
        src = sales / f["path"]
        assert f["blob"] == hash_file(src)
        assert (f["size"], f["rows"]) == (src.stat().st_size, 100)
    assert entries[0]["partition"] == {"date": "2024-01-01"}


def test_log(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales, "-m", "one")
    put_day(sales, "2024-01-04", seed=4)
    snap(cli, "sales", sales, "-m", "two")
    r = cli("data", "log", "sales")
    assert r.code == 0, r.err
    assert r.out.index("sales@2") < r.out.index("sales@1")
    log = cli("data", "log", "sales", "--json").json()
    assert [(v["ref"], v["parent"], v["message"]) for v in log] == [
        ("sales@2", 1, "two"),
        ("sales@1", None, "one"),
    ]
    assert log[0]["created_at"] >= log[1]["created_at"]


def test_diff(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    put_day(sales, "2024-01-02", seed=9)  # changed
    put_day(sales, "2024-01-04", seed=4, rows=40)  # added
    shutil.rmtree(sales / "date=2024-01-01")  # removed
    snap(cli, "sales", sales)
    d = cli("data", "diff", "sales@1", "sales@2", "--json").json()
    assert (d["a"], d["b"]) == ("sales@1", "sales@2")
    assert d["files_added"] == ["date=2024-01-04/part-0.parquet"]
    assert d["files_removed"] == ["date=2024-01-01/part-0.parquet"]
    assert d["files_changed"] == ["date=2024-01-02/part-0.parquet"]
    assert (d["partitions_added"], d["partitions_removed"]) == (
        ["date=2024-01-04"],
        ["date=2024-01-01"],
    )
    assert (d["rows_a"], d["rows_b"], d["rows_delta"]) == (300, 240, -60)
    assert cli("data", "diff", "sales@2", "--json").json() == d  # default: against the parent
    r = cli("data", "diff", "sales@1", "sales@2")
    assert "rows: 300 -> 240 (-60)" in r.out
    assert "+ date=2024-01-04/part-0.parquet" in r.out
    assert "~ date=2024-01-02/part-0.parquet" in r.out


def test_diff_shows_a_retyped_partition_key(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    put_day(sales, "oops", seed=3)  # date=oops: the key can no longer be a date
    snap(cli, "sales", sales)
    assert cli("data", "diff", "sales@2", "--json").json()["partitioning_changed"] == [
        "date: date32 -> string"
    ]
    r = cli("data", "diff", "sales@2")
    assert "partition keys changed (1):" in r.out and "~ date: date32 -> string" in r.out


def test_diff_schema(ws: Workspace, cli: Cli) -> None:
    src = ws.root / "t"
    src.mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), src / "p.parquet")
    age(src)
    snap(cli, "t", src)
    pq.write_table(pa.table({"a": [1.5, 2.5], "c": [True, False]}), src / "p.parquet")
    age(src)
    snap(cli, "t", src)
    d = cli("data", "diff", "t@1", "t@2", "--json").json()
    assert (d["columns_added"], d["columns_removed"]) == (["c"], ["b"])
    assert d["columns_retyped"] == ["a: int64 -> double"]


def test_diff_identical(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    snap(cli, "copy", sales)
    r = cli("data", "diff", "sales@1", "copy@1")
    assert "identical content" in r.out
    d = cli("data", "diff", "sales@1", "copy@1", "--json").json()
    assert d["files_added"] == d["files_removed"] == d["files_changed"] == []


# -- materialize ---------------------------------------------------------------------------


def test_materialize(ws: Workspace, sales: Path, cli: Cli, tmp_path: Path) -> None:
    snap(cli, "sales", sales)
    out = tmp_path / "out"
    r = cli("data", "materialize", "sales@1", out)
    assert r.code == 0, r.err
    assert "3 files" in r.out
    assert files_under(out) == files_under(sales)
    for rel in files_under(sales):
        assert (out / rel).read_bytes() == (sales / rel).read_bytes()


def test_materialize_json(ws: Workspace, sales: Path, cli: Cli, tmp_path: Path) -> None:
    snap(cli, "sales", sales)
    put_day(sales, "2024-01-04", seed=4)
    snap(cli, "sales", sales)
    out = tmp_path / "empty"
    out.mkdir()  # an existing empty folder is fine
    m = cli("data", "materialize", "sales@1", out, "--json").json()
    assert m == {"ref": "sales@1", "dest": str(out), "files": 3, "bytes": m["bytes"]}
    assert m["bytes"] == sum((out / p).stat().st_size for p in files_under(out))
    assert "date=2024-01-04" not in {p.split("/")[0] for p in files_under(out)}


def test_materialize_process(ws: Workspace, sales: Path, cli: Cli) -> None:
    snap(cli, "sales", sales)
    r = mlcd("data", "materialize", "sales", "copy", cwd=ws.root)
    assert r.code == 0, r.err
    for rel in files_under(sales):
        assert hash_file(ws.root / "copy" / rel) == hash_file(sales / rel)


# -- a whole session as real processes -----------------------------------------------------


def test_session(tmp_path: Path) -> None:
    assert mlcd("init", "w", cwd=tmp_path).code == 0
    root = tmp_path / "w"
    write_partitions(root / "data", DAYS[:2])
    assert mlcd("--quiet", "data", "snapshot", "sales", "data", cwd=root).code == 0
    put_day(root / "data", DAYS[2], seed=2)
    v2 = mlcd("data", "snapshot", "sales", "data", "--json", cwd=root).json()
    assert (v2["ref"], v2["files_ingested"], v2["files_reused"]) == ("sales@2", 1, 2)
    diff = mlcd("data", "diff", "sales@2", "--json", cwd=root).json()
    assert diff["partitions_added"] == ["date=2024-01-03"]
    assert [v["ref"] for v in mlcd("data", "log", "sales", "--json", cwd=root).json()] == [
        "sales@2",
        "sales@1",
    ]


# -- version, help, start-up time ----------------------------------------------------------


def test_version(tmp_path: Path, cli: Cli) -> None:
    r = mlcd("--version", cwd=tmp_path)
    assert (r.code, r.out, r.err) == (0, f"mlcd {__version__}\n", "")
    assert cli("--version").out == f"mlcd {__version__}\n"


def test_help(cli: Cli) -> None:
    r = cli("--help")
    assert r.code == 0
    assert "init" in r.out and "data" in r.out
    r = cli("data", "--help")
    assert all(c in r.out for c in ["snapshot", "list", "show", "diff", "log", "materialize"])


def _best_of(n: int, args: list[str], cwd: Path) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, capture_output=True)
        best = min(best, time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr
    return best


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_startup_time(tmp_path: Path, flag: str) -> None:
    script = Path(sys.executable).parent / "mlcd"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mlcd"]
    seconds = _best_of(5, [*command, flag], tmp_path)
    assert seconds < 0.2, f"`mlcd {flag}` took {seconds:.3f} s (best of 5)"
