"""The ObjectStore protocol and the content addresses (`b3:<hex>`) it stores blobs under."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from blake3 import blake3

from mlcd.errors import BackendError, IntegrityError, InvalidNameError, NotFoundError

if TYPE_CHECKING:
    import pyarrow.fs

    from mlcd.store.marks import Mark

PREFIX = "b3:"
CHUNK = 1 << 20  # 1 MiB: large enough for the hasher to run at memory speed, small for RAM
_BLOB_ID = re.compile(r"b3:[0-9a-f]{64}")
TEMP_NAME = re.compile(r"[0-9a-f]{32}")  # a store's temp files are uuid4().hex: gc removes no other
_MARKING = threading.RLock()  # first writes of stores with an owner: rare, so one lock for all


def blob_id(hexdigest: str) -> str:
    return PREFIX + hexdigest


def check_blob_id(blob: str) -> str:
    """Return the hex digest of a well-formed blob id; reject anything that could be a path."""
    if not _BLOB_ID.fullmatch(blob):
        raise InvalidNameError(f"malformed blob id {blob!r}", hint="blob ids look like b3:<64 hex>")
    return blob[len(PREFIX) :]


def hash_bytes(data: bytes) -> str:
    return blob_id(blake3(data).hexdigest())


def hash_file(path: str | os.PathLike[str]) -> str:
    """Stream a file through BLAKE3 in fixed-size chunks: memory stays bounded."""
    hasher = blake3()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return blob_id(hasher.hexdigest())


class CopyCancelled(Exception):
    """A copy stopped because its batch was abandoned (Ctrl-C, a refused snapshot)."""


def copy_hashing(
    src: BinaryIO, dst: BinaryIO, cancel: threading.Event | None = None
) -> tuple[str, int]:
    """Copy `src` to `dst` in fixed-size chunks, hashing the bytes as they pass.

    One read per byte and bounded memory; returns (hex digest, size). Setting `cancel` stops
    it within a chunk (CopyCancelled).
    """
    hasher = blake3()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    while n := src.readinto(buf):  # type: ignore[attr-defined]
        if cancel is not None and cancel.is_set():
            raise CopyCancelled
        hasher.update(view[:n])
        dst.write(view[:n])
        size += n
    return hasher.hexdigest(), size


def fanout(hexdigest: str) -> str:
    """Relative key of a blob: `b3/ab/cdef...`, so no folder grows past 256 entries per level."""
    return f"b3/{hexdigest[:2]}/{hexdigest[2:]}"


def blob_at(folder: str, name: str) -> str | None:
    """The blob stored as `b3/<folder>/<name>`; None for anything else found there.

    Stores are folders and buckets that people and tools also write to (`.DS_Store`, a
    console's folder markers): listing them must not turn such files into blob ids.
    """
    blob = blob_id(folder + name)
    return blob if len(folder) == 2 and _BLOB_ID.fullmatch(blob) else None


def verify(blob: str, data: bytes) -> bytes:
    actual = hash_bytes(data)
    if actual != blob:
        raise corrupt(blob, actual)
    return data


def corrupt(blob: str, actual: str) -> IntegrityError:
    return IntegrityError(
        f"blob {blob} is corrupt: its content hashes to {actual}",
        hint="the stored file was changed or damaged: `mlcd fsck --repair` removes it and names "
        "what used it; snapshot, run or register that again to store it afresh",
    )


def missing(blob: str, url: str) -> NotFoundError:
    return NotFoundError(
        f"blob {blob} is not in the store at {url}",
        hint="it was deleted from the store: `mlcd fsck` names what used it; snapshot, run or "
        "register that again to store it afresh",
    )


@dataclass(frozen=True)
class PutResult:
    """Where a stored blob lives and how big it is; `new` is False when it was deduplicated."""

    blob: str
    size: int
    new: bool


@dataclass(frozen=True)
class Staged:
    """A file copied into a store's temporary area and hashed, not yet visible as a blob."""

    key: str  # the temporary location, private to the store
    hexdigest: str
    size: int

    @property
    def blob(self) -> str:
        return blob_id(self.hexdigest)


@dataclass(frozen=True)
class BlobStat:
    size: int
    modified: float  # POSIX seconds: when the blob was written


@runtime_checkable
class ObjectStore(Protocol):
    """Content-addressed blobs. Writes are atomic; `get_*` verify content against the id.

    Backends subclass it explicitly to inherit the operations defined here from the others
    (`put_file`, `commit_all`, `missing`); they override them where they can do better.
    """

    url: str
    owner: Callable[[], Mark] | None = None  # the mark of the metadata DB writing through it
    _marked: bool = False
    _marking: bool = False

    def _mark_owner(self) -> None:
        """Before the first write, store the owner DB's mark (`mlcd.store.marks`): `gc` from
        another metadata DB then knows this one uses the store too. Writers in other threads
        wait for it; if it cannot be stored, the write fails (and the next one tries again)."""
        if self.owner is None or self._marked:
            return
        with _MARKING:  # re-entrant: storing the mark is itself a write
            if self._marked or self._marking:
                return
            self._marking = True
            try:
                self.put_bytes(self.owner().encode())
                self._marked = True
            finally:
                self._marking = False

    def put_file(self, path: str | os.PathLike[str]) -> PutResult:
        """Store a file, hashing while copying (one read per byte)."""
        staged = self.stage_file(path)
        try:
            return self.commit(staged)
        except BaseException:
            self.discard(staged)
            raise

    def stage_file(
        self, path: str | os.PathLike[str], cancel: threading.Event | None = None
    ) -> Staged:
        """Copy a file into the store's temporary area, hashing it; no blob appears yet.

        Lets a caller copy while it still validates, then `commit` all or `discard` all;
        setting `cancel` stops the copy within a chunk (CopyCancelled, nothing left behind).
        """
        ...

    def commit(self, staged: Staged) -> PutResult:
        """Make a staged file visible as its blob (atomically; deduplicated)."""
        ...

    def commit_all(self, staged: list[Staged]) -> list[PutResult]:
        """`commit` each, in order; concurrently where the backend gains from it."""
        return [self.commit(s) for s in staged]

    def discard(self, staged: Staged) -> None: ...

    def put_bytes(self, data: bytes) -> PutResult: ...

    def has(self, blob: str) -> bool:
        try:
            self.stat(blob)
        except NotFoundError:
            return False
        return True

    def missing(self, blobs: Iterable[str]) -> set[str]:
        """The blobs of `blobs` that are not stored, answered in bulk where the backend can."""
        return {b for b in blobs if not self.has(b)}

    def refresh(self, blobs: Iterable[str]) -> set[str]:
        """Mark stored blobs as in use again, so `mlcd gc` sees them as young (a writer that
        reuses blobs no version holds yet); return those that are not stored.

        Here only the check: a backend that can touch a blob cheaply does so.
        """
        return self.missing(blobs)

    def get_bytes(self, blob: str) -> bytes:
        """Return a blob's content, verified against its id."""
        ...

    def get_file(self, blob: str, dest: str | os.PathLike[str]) -> None:
        """Write a blob to `dest` atomically, verified against its id while copying."""
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        with self.open(blob) as src, contextlib.ExitStack() as stack:  # NotFoundError first
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(open(tmp, "wb"))
            except OSError as exc:
                raise BackendError(f"cannot write {dest}: {exc.strerror}") from exc
            stack.callback(lambda: tmp.unlink(missing_ok=True))  # gone already once replaced
            hexdigest, _ = copy_hashing(src, out)
            out.close()
            if blob_id(hexdigest) != blob:
                raise corrupt(blob, blob_id(hexdigest))
            os.replace(tmp, dest)

    def open(self, blob: str) -> BinaryIO:
        """Open a blob for reading, unverified (readers that only touch part of a file)."""
        ...

    def iter_blobs(self) -> Iterator[str]: ...

    def stat(self, blob: str) -> BlobStat:
        """Size and write time of a stored blob (NotFoundError when it is not stored)."""
        ...

    def delete(self, blob: str) -> None:
        """Remove a blob (for `mlcd gc`); a blob that is not stored is no error."""
        ...

    def collect(self, blob: str, before: float) -> BlobStat | None:
        """Delete a blob unless it was written (or reused) at `before` or later: its stat if
        deleted, None if kept or not stored.

        For `mlcd gc`. A writer that reuses the blob between the stat and the delete loses it,
        unless the backend's `_delete_unless_modified` decides and deletes in one step.
        """
        try:
            stat = self.stat(blob)
        except NotFoundError:
            return None
        if stat.modified >= before or not self._delete_unless_modified(blob, before):
            return None
        return stat

    def _delete_unless_modified(self, blob: str, before: float) -> bool:
        """Delete a blob gc judged old; False if it was kept. Here unconditionally."""
        self.delete(blob)
        return True

    def clean_temp(self, before: float) -> int:
        """Remove staging leftovers (of crashed writers) written before `before`; how many."""
        ...

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        """A pyarrow filesystem and path to read a blob in place (Parquet, CSV, JSON)."""
        ...
