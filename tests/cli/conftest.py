"""Running the CLI in-process (fast) or as a real subprocess, and reading a workspace's state."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Cli as Cli
from tests.conftest import Result as Result

# root without the capabilities to bypass file permissions (CI runs as root)
WITHOUT_DAC_OVERRIDE = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def mlcd(
    *args: str | Path, cwd: Path, timeout: float = 120, prefix: tuple[str, ...] = ()
) -> Result:
    """`mlcd ARGS` as a real process (`python -m mlcd`) in `cwd`, run through `prefix`."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "mlcd", *map(str, args)],
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
