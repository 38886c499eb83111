"""Ingest reports progress as it goes, and hashing memory stays bounded whatever the size."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlcd.workspace import Workspace
from tests.conftest import write_partitions


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: tuple[int, int] | None = None
        self.advanced: list[int] = []

    def start(self, files: int, nbytes: int) -> None:
        self.started = (files, nbytes)

    def advance(self, nbytes: int) -> None:
        with self.lock:
            self.advanced.append(nbytes)


def test_progress_counts_only_the_files_that_are_read(ws: Workspace, sales: Path) -> None:
    first = Recorder()
    ws.snapshot("sales", sales, progress=first)
    total = sum(p.stat().st_size for p in sales.rglob("*.parquet"))
    assert first.started == (3, total)
    assert sum(first.advanced) == total and len(first.advanced) == 3

    write_partitions(sales, ["2024-01-09"], seed=4)
    second = Recorder()
    ws.snapshot("sales", sales, progress=second)
    new = (sales / "date=2024-01-09" / "part-0.parquet").stat().st_size
    assert second.started == (1, new) and second.advanced == [new]


@pytest.mark.slow
def test_hashing_a_large_file_uses_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        for _ in range(64):
            f.write(b"\x5a" * (8 << 20))  # 512 MiB
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the (large) pytest parent
    code = (
        "import re\n"
        "from mlcd.store import LocalObjectStore\n"
        f"LocalObjectStore({str(tmp_path / 'objects')!r}).put_file({str(big)!r})\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_mb = int(out.stdout) / 1024
    assert peak_mb < 100, f"hashing 512 MiB peaked at {peak_mb:.0f} MB"
