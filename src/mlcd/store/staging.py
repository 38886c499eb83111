"""Copy files into a store in background threads while the caller validates; keep all or none.

A snapshot must store nothing when it is refused (a corrupt file, a schema conflict), yet
copying 2 GB should not wait for the checks that may refuse it. Staged files sit in the
store's temporary area, invisible as blobs, until `commit`; leaving the block any other way
(an error, Ctrl-C) discards them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait

from mlcd.store.base import ObjectStore, PutResult, Staged

Check = Callable[[int, Staged], None]


class StagingBatch:
    """Files being staged; `commit()` waits for them and makes them blobs, in input order."""

    def __init__(
        self, store: ObjectStore, paths: list[str], workers: int, check: Check | None
    ) -> None:
        self._store = store
        self._check = check
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mlcd-stage")
        self._futures: list[Future[Staged]] = [
            self._pool.submit(self._stage, i, path) for i, path in enumerate(paths)
        ]
        self._committed = False

    def _stage(self, index: int, path: str) -> Staged:
        staged = self._store.stage_file(path)
        if self._check is not None:
            try:
                self._check(index, staged)
            except BaseException:
                self._store.discard(staged)
                raise
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
        for f in self._futures:
            f.cancel()
        wait(self._futures)
        for f in self._futures:
            if not f.cancelled() and f.exception() is None:
                self._store.discard(f.result())


@contextlib.contextmanager
def staging(
    store: ObjectStore,
    paths: list[str],
    workers: int,
    check: Check | None = None,
) -> Iterator[StagingBatch]:
    """Start staging `paths`; `check(index, staged)` runs after each copy (raise to refuse)."""
    batch = StagingBatch(store, paths, workers, check)
    try:
        yield batch
    finally:
        if not batch._committed:
            batch._abort()
        batch._pool.shutdown(wait=True)
