"""On a terminal, long work draws a progress bar (rich) and still ends as it should."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mlcd.workspace import Workspace
from tests.conftest import write_partitions


def on_terminal(*args: str | Path, cwd: Path) -> tuple[int, str]:
    """`mlcd ARGS` with stdin, stdout and stderr on a pseudo-terminal: exit code, output."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcd", *map(str, args)],
        cwd=cwd,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError as exc:  # EIO: the other side closed
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return proc.wait(timeout=60), output.decode(errors="replace")


@pytest.mark.slow  # real processes
def test_snapshot_and_fsck_on_a_terminal(ws: Workspace) -> None:
    src = write_partitions(ws.root / "data" / "sales", ["2024-01-01", "2024-01-02"])
    code, out = on_terminal("data", "snapshot", "sales", src, cwd=ws.root)
    assert code == 0 and "sales@1 created" in out and "Traceback" not in out, out
    assert "files" in out  # the bar's files column was drawn
    code, out = on_terminal("fsck", cwd=ws.root)
    assert code == 0 and "ok: the store holds everything" in out and "Traceback" not in out, out
