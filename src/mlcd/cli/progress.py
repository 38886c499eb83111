"""A rich progress bar for long work, shown only on a terminal and never with --quiet."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress


class IngestBar:
    """Files, bytes and throughput of an ingest (implements mlcd.data.snapshot.Progress)."""

    def __init__(self, bar: Progress, label: str) -> None:
        self.bar = bar
        self.label = label
        self.lock = threading.Lock()
        self.task = bar.add_task(label, total=None, files=0, nfiles=0)

    def start(self, files: int, nbytes: int) -> None:
        self.bar.update(self.task, total=nbytes, nfiles=files)

    def advance(self, nbytes: int) -> None:
        with self.lock:  # called from worker threads
            done = self.bar.tasks[self.task].fields["files"] + 1
            self.bar.update(self.task, advance=nbytes, files=done)


@contextmanager
def ingest_bar(label: str, quiet: bool) -> Iterator[IngestBar | None]:
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from mlcd.cli.render import err

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]}/{task.fields[nfiles]} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err.get(), transient=True) as bar:
        yield IngestBar(bar, label)


@contextmanager
def count_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A bar of items done out of a total, for long checks such as `mlcd fsck`; yields
    `advance(done, total)` (None off a terminal or with --quiet). Thread-safe."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mlcd.cli.render import err

    lock = threading.Lock()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err.get(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            with lock:
                bar.update(task, advance=done, total=total)

        yield advance
