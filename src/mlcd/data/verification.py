"""Checking the blobs a reader opens in place: each hashed once, then trusted while its stat holds.

Readers hand blob paths to pyarrow and DuckDB, which never hash what they read, so a damaged
blob would read as wrong values. A local blob is hashed before its first read, and the
(inode, size, mtime, ctime) it had is remembered in `.mlcd/cache/verified.db`: later reads only
stat it. Writing to the file, `chmod`, or replacing it changes that stat (no user call sets a
ctime back), so it is hashed again. A blob changed less than 2 s before it was hashed is not
remembered: a write in the same clock tick could leave its stat unchanged (see statcache.py).

A remote blob is only compared by size with the manifest (a missing or truncated blob is
caught): hashing it would download it twice. `mlcd fsck` re-hashes every blob where it lives.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from blake3 import blake3

from mlcd.data.manifest import FileEntry
from mlcd.data.statcache import RACY_NS, open_index, transaction
from mlcd.errors import BackendError, IntegrityError, MlcdError, NotFoundError
from mlcd.store import LocalObjectStore, ObjectStore
from mlcd.store.base import blob_id, check_blob_id, corrupt, fanout, missing

REMOTE_WORKERS = 16  # one round trip per blob; overlap them

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verified (
    path TEXT PRIMARY KEY, inode INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER);
"""

Stat = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns
T = TypeVar("T")


class VerifiedIndex:
    """Blob paths that hashed right, with the stat they had then; local to this machine."""

    def __init__(self, path: Path) -> None:
        self.conn = open_index(path, _SCHEMA)

    def trusted(self, stats: dict[str, Stat]) -> set[str]:
        """The paths whose stat is the one they had when they hashed right."""
        query = (  # one query for all files, not one per file: a version can hold thousands
            "SELECT path, inode, size, mtime_ns, ctime_ns FROM verified"
            " WHERE path IN (SELECT value FROM json_each(?))"
        )
        rows = self.conn.execute(query, (json.dumps(list(stats)),))
        return {path for path, *st in rows if tuple(st) == stats[path]}

    def remember(self, stats: dict[str, Stat]) -> None:
        rows = [(path, *st) for path, st in stats.items()]
        with transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self.conn.close()


def check_files(
    ref: str,
    files: Sequence[FileEntry],
    store: ObjectStore,
    index: Path | None = None,
    content: bool = True,
) -> None:
    """Raise for the first of `files` whose blob is missing or damaged.

    Args:
        ref: the version, for messages (`sales@3`).
        files: the files about to be read.
        store: where their blobs live.
        index: where verified local blobs are remembered; None hashes them on every call.
        content: hash local blobs (else only stat them); remote ones are compared by size
            only when this is set, as that costs a request per blob.
    """
    if isinstance(store, LocalObjectStore):
        _check_local(ref, files, store, index, content)
    elif content:
        _check_sizes(ref, files, store)


def _check_local(
    ref: str, files: Sequence[FileEntry], store: LocalObjectStore, index: Path | None, content: bool
) -> None:
    paths = {f.blob: os.path.join(store.url, fanout(check_blob_id(f.blob))) for f in files}
    stats: dict[str, Stat] = {}
    for f in files:  # a stat costs microseconds: always done, so a missing blob is named
        try:
            st = os.stat(paths[f.blob])
        except FileNotFoundError:
            raise _named(ref, f, missing(f.blob, store.url)) from None
        except OSError as exc:
            raise _unreadable(ref, f, exc) from exc
        if st.st_size != f.size:
            raise _wrong_size(ref, f, st.st_size)
        stats[paths[f.blob]] = _stat_of(st)
    if not content:
        return
    known = _open_index(index)
    try:
        trusted = known.trusted(stats) if known else set()
        todo = {f.blob: f for f in files if paths[f.blob] not in trusted}  # each blob once

        def check(f: FileEntry) -> tuple[str, Stat | None]:
            return paths[f.blob], _hash(ref, f, paths[f.blob], store.url)

        hashed = _parallel(check, list(todo.values()), os.cpu_count() or 1)
        old = time.time_ns() - RACY_NS  # compared with ctime, which any change sets to now
        fresh = {p: st for p, st in hashed if st is not None and st == stats[p] and st[3] < old}
        if known and fresh:
            with contextlib.suppress(sqlite3.Error):  # read-only: hashed again next time
                known.remember(fresh)
    finally:
        if known:
            known.close()


def _open_index(path: Path | None) -> VerifiedIndex | None:
    """The index at `path`; None when there is none or it cannot be opened (a read-only
    workspace): blobs are then hashed on every read, never trusted unhashed."""
    if path is None:
        return None
    try:
        return VerifiedIndex(path)
    except (OSError, sqlite3.Error):
        return None


def _hash(ref: str, f: FileEntry, path: str, url: str) -> Stat | None:
    """Hash a blob; the stat it had, or None if that changed while it was hashed."""
    try:
        before = _stat_of(os.stat(path))
        actual = blob_id(blake3().update_mmap(path).hexdigest())
        after = _stat_of(os.stat(path))
    except FileNotFoundError:  # removed since it was stat'ed
        raise _named(ref, f, missing(f.blob, url)) from None
    except OSError as exc:
        raise _unreadable(ref, f, exc) from exc
    if actual != f.blob:
        raise _named(ref, f, corrupt(f.blob, actual))
    return before if after == before else None


def _check_sizes(ref: str, files: Sequence[FileEntry], store: ObjectStore) -> None:
    def check(f: FileEntry) -> None:
        try:
            size = store.stat(f.blob).size
        except NotFoundError as exc:
            raise _named(ref, f, exc) from None
        if size != f.size:
            raise _wrong_size(ref, f, size)

    _parallel(check, files, REMOTE_WORKERS)


def _parallel(fn: Callable[[FileEntry], T], files: Sequence[FileEntry], workers: int) -> list[T]:
    """`fn` over `files` in threads; the first failure is raised, files not yet begun are not."""
    if len(files) <= 1:
        return [fn(f) for f in files]
    with ThreadPoolExecutor(min(workers, len(files))) as pool:
        futures = [pool.submit(fn, f) for f in files]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _stat_of(st: os.stat_result) -> Stat:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _named(ref: str, f: FileEntry, exc: MlcdError) -> MlcdError:
    """The store's error, prefixed with the version and the file's path in it."""
    return type(exc)(f"{ref}: {f.path}: {exc.message}", hint=exc.hint)


def _wrong_size(ref: str, f: FileEntry, size: int) -> IntegrityError:
    return IntegrityError(
        f"{ref}: {f.path}: blob {f.blob} is corrupt: it holds {size:,} bytes, not {f.size:,}",
        hint="the stored file was changed or damaged: `mlcd fsck --repair` removes it and names "
        "what used it; snapshot that again to store it afresh",
    )


def _unreadable(ref: str, f: FileEntry, exc: OSError) -> BackendError:
    return BackendError(
        f"{ref}: {f.path}: cannot read blob {f.blob}: {exc.strerror or exc}",
        hint="check the store's permissions; `mlcd fsck` checks every blob",
    )
