"""Shared fixtures: a fresh workspace, and real Parquet/CSV/JSON sources on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.workspace import Workspace

pytest_plugins = ["tests.postgres"]


def age(path: Path, seconds: float = 60) -> None:
    """Backdate the mtime of every file under `path`, so the stat index trusts them
    (files written within the last 2 s are deliberately re-hashed, see data/statcache.py)."""
    past = time.time() - seconds
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in files:
        os.utime(p, (past, past))


def git(root: Path, *args: str) -> str:
    """`git ARGS` in `root` (with an identity for commits); its output, stripped."""
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def write_partitions(
    root: Path, days: list[str], rows: int = 100, seed: int = 0, key: str = "date"
) -> Path:
    """Hive-partitioned Parquet: root/<key>=<day>/part-0.parquet, each with `rows` rows."""
    for i, day in enumerate(days):
        rng = np.random.default_rng(seed * 1000 + i)
        folder = root / f"{key}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "amount": rng.random(rows),
                "items": rng.integers(0, 10, rows),
                "channel": rng.choice(["web", "app"], rows),
            }
        )
        pq.write_table(table, folder / "part-0.parquet")
        age(folder)
    return root


@pytest.fixture
def db_backend() -> str:
    """The metadata DB of `ws`: SQLite, unless the module sets DB_BACKENDS (tests/postgres.py)."""
    return "sqlite"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from tests.postgres import parametrize_backends

    parametrize_backends(metafunc)


@pytest.fixture
def ws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, db_backend: str
) -> Iterator[Workspace]:
    """A fresh workspace in tmp_path/ws, which is also the current folder; its metadata DB is
    a new PostgreSQL database when `db_backend` is "postgresql"."""
    root = tmp_path / "ws"
    if db_backend == "postgresql":
        from tests.postgres import init_workspace

        workspace = init_workspace(root, request.getfixturevalue("postgres_url"))
    else:
        workspace = Workspace.init(root)
    monkeypatch.chdir(root)
    yield workspace
    workspace.close()


@pytest.fixture
def sales(ws: Workspace) -> Path:
    """Three days of partitioned sales data inside the workspace."""
    return write_partitions(ws.root / "data" / "sales", ["2024-01-01", "2024-01-02", "2024-01-03"])


# -- the CLI, in this process -------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Cli = Callable[..., Result]


def invoke(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """`mlcd ARGS` in this process, in the current folder: exit code, stdout, stderr."""
    from mlcd.cli.main import main

    capsys.readouterr()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        raise AssertionError("main() returned without sys.exit")
    finally:  # main() installs its own handlers
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli("data", "list")` runs `mlcd data list` in this process, in the current folder."""
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapped cells
    return lambda *args: invoke(capsys, *args)
