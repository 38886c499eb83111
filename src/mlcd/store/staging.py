"""Copy files into a store in background threads while the caller validates; keep all or none.

A snapshot must store nothing when it is refused (a corrupt file, a schema conflict), yet
copying 2 GB should not wait for the checks that may refuse it. Staged files sit in the
store's temporary area, invisible as blobs, until `commit`; leaving the block any other way
(an error, Ctrl-C) discards them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from mlcd.store.base import ObjectStore, PutResult, Staged

Check = Callable[[int, Staged], None]


class StagingBatch:
    """Files being staged; `commit()` waits for them and makes them blobs, in input order."""

    def __init__(self, store: ObjectStore, workers: int, check: Check | None) -> None:
        self._store = store
        self._check = check
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mlcd-stage")
        self._futures: list[Future[Staged]] = []
        self._done: list[Staged] = []  # by the workers: complete even if a submit was cut short
        self._cancel = threading.Event()  # stops running copies within a chunk
        self._committed = False

    def _start(self, paths: list[str]) -> None:
        # Ctrl-C while the pool starts a thread would leave that thread unknown to the pool,
        # still copying after the batch was discarded: hold signals until every copy is queued
        with _signals_held():
            for i, path in enumerate(paths):
                self._futures.append(self._pool.submit(self._stage, i, path))

    def _stage(self, index: int, path: str) -> Staged:
        staged = self._store.stage_file(path, self._cancel)
        if self._check is not None:
            try:
                self._check(index, staged)
            except BaseException:
                self._store.discard(staged)
                raise
        self._done.append(staged)
        return staged

    def wait(self) -> list[Staged]:
        """Wait for every copy and check, re-raising the first failure."""
        return [f.result() for f in self._futures]

    def commit(self) -> list[PutResult]:
        """Wait for every copy, then publish them all as blobs."""
        staged = self.wait()
        results = self._store.commit_all(staged)
        self._committed = True  # else the block's exit discards what is left (a no-op if moved)
        return results

    def _abort(self) -> None:
        # an interrupt inside `submit` can queue work whose future was never returned: stop
        # the pool itself (running copies stop within a chunk), then discard what finished
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for staged in self._done:
            self._store.discard(staged)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread meanwhile; they are handled on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def staging(
    store: ObjectStore,
    paths: list[str],
    workers: int,
    check: Check | None = None,
) -> Iterator[StagingBatch]:
    """Start staging `paths`; `check(index, staged)` runs after each copy (raise to refuse)."""
    batch = StagingBatch(store, workers, check)
    try:
        batch._start(paths)
        yield batch
    finally:
        if not batch._committed:
            batch._abort()
        batch._pool.shutdown(wait=True)
