"""Running the CLI in-process (fast) or as a real subprocess, and reading a workspace's state."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlcd.cli.main import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`cli("data", "list")` runs `mlcd data list` in this process, in the current folder."""

    def run(*args: str) -> Result:
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

    return run


def mlcd(*args: str | Path, cwd: Path, timeout: float = 120) -> Result:
    """`mlcd ARGS` as a real process (`python -m mlcd`) in `cwd`."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlcd", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, *needles: str) -> str:
    """Exit 1, and one `error:` line (plus at most one `hint:`) that contains every needle."""
    lines = result.err.strip().splitlines()
    assert result.code == 1, f"exit {result.code}\n{result.err}"
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert lines and lines[0].startswith("error: "), result.err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


@dataclass(frozen=True)
class State:
    """What a failed command must leave untouched: versions, datasets, blobs, temp files."""

    versions: list[tuple[str, int, str]]
    datasets: list[str]
    blobs: list[str]
    temp: list[str]


def state(root: Path) -> State:
    db = sqlite3.connect(root / ".mlcd" / "mlcd.db")
    try:
        versions = db.execute(
            "SELECT d.name, v.number, v.content_id FROM dataset_versions v "
            "JOIN datasets d ON d.id = v.dataset_id ORDER BY d.name, v.number"
        ).fetchall()
        datasets = [n for (n,) in db.execute("SELECT name FROM datasets ORDER BY name")]
    finally:
        db.close()
    return State(versions, datasets, files_under(root / ".mlcd" / "objects" / "b3"), temp(root))


def files_under(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def temp(root: Path) -> list[str]:
    """Leftovers of interrupted writes: blob temp files and query results."""
    return files_under(root / ".mlcd" / "objects" / "tmp") + files_under(root / ".mlcd" / "tmp")
