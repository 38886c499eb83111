"""A store in a local folder, with plain OS calls: the fast default (`.mlcd/objects`)."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from blake3 import blake3

from mlcd.store.base import (
    TEMP_NAME,
    BlobStat,
    ObjectStore,
    PutResult,
    Staged,
    blob_at,
    blob_id,
    check_blob_id,
    copy_hashing,
    fanout,
    missing,
    verify,
)

if TYPE_CHECKING:
    import pyarrow.fs

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class LocalObjectStore(ObjectStore):
    """Blobs under `root/b3/ab/cdef...`; temp files under `root/tmp/` are renamed into place."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)
        self._tmp = self.root / "tmp"
        self._tmp_made = False

    def path_of(self, blob: str) -> Path:
        return self.root / fanout(check_blob_id(blob))

    def _tmp_path(self) -> Path:
        if not self._tmp_made:  # once per store, not once per file
            self._tmp.mkdir(parents=True, exist_ok=True)
            self._tmp_made = True
        return self._tmp / uuid.uuid4().hex

    def _commit(self, tmp: str, hexdigest: str, size: int) -> PutResult:
        """Move a finished, read-only temp file into place (plain `os` calls: one per blob)."""
        final = os.path.join(self.url, fanout(hexdigest))
        if os.path.exists(final):  # deduplicated: the same content is already stored
            with contextlib.suppress(FileNotFoundError):  # ... unless a gc just removed it
                try:
                    os.utime(final)  # in use again: `mlcd gc` must see it as young
                    os.unlink(tmp)
                except PermissionError:  # another user's blob: ours, the same bytes, replaces it
                    os.replace(tmp, final)
                return PutResult(blob_id(hexdigest), size, new=False)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the first blob of its folder
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        os.utime(final)  # written when published, not when staged: gc's grace counts from here
        return PutResult(blob_id(hexdigest), size, new=True)

    def stage_file(
        self, path: str | os.PathLike[str], cancel: threading.Event | None = None
    ) -> Staged:
        tmp = self._tmp_path()
        try:
            with open(path, "rb", buffering=0) as src, open(tmp, "wb", buffering=0) as out:
                hexdigest, size = copy_hashing(src, out, cancel)
                os.fchmod(out.fileno(), _READ_ONLY)  # blobs are immutable: no editing in place
            return Staged(str(tmp), hexdigest, size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def commit(self, staged: Staged) -> PutResult:
        self._mark_owner()
        return self._commit(staged.key, staged.hexdigest, staged.size)

    def discard(self, staged: Staged) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.key)

    def put_bytes(self, data: bytes) -> PutResult:
        self._mark_owner()
        tmp = self._tmp_path()
        try:
            with open(tmp, "xb") as out:
                out.write(data)
                os.fchmod(out.fileno(), _READ_ONLY)
            return self._commit(str(tmp), blake3(data).hexdigest(), len(data))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def get_bytes(self, blob: str) -> bytes:
        try:
            data = self.path_of(blob).read_bytes()
        except FileNotFoundError:
            raise missing(blob, self.url) from None
        return verify(blob, data)

    def open(self, blob: str) -> BinaryIO:
        try:
            return open(self.path_of(blob), "rb")
        except FileNotFoundError:
            raise missing(blob, self.url) from None

    def iter_blobs(self) -> Iterator[str]:
        base = self.root / "b3"
        if not base.is_dir():
            return
        for sub in sorted(base.iterdir()):
            if not sub.is_dir():
                continue
            for entry in sorted(sub.iterdir()):
                blob = blob_at(sub.name, entry.name)
                if blob is not None:
                    yield blob

    def stat(self, blob: str) -> BlobStat:
        try:
            st = self.path_of(blob).stat()
        except FileNotFoundError:
            raise missing(blob, self.url) from None
        return BlobStat(st.st_size, st.st_mtime)

    def delete(self, blob: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(blob).unlink()

    def collect(self, blob: str, before: float) -> BlobStat | None:
        """Move the blob out of sight first, then judge its time: a writer reusing it before the
        move made it young (it is put back); one after the move finds it gone and publishes its
        own copy. Either way the blob that writer refers to stays stored."""
        final = self.path_of(blob)
        moved = self._tmp_path()
        try:
            os.replace(final, moved)
        except FileNotFoundError:
            return None
        st = os.stat(moved)
        if st.st_mtime >= before:
            os.replace(moved, final)  # the same bytes, should a writer have published meanwhile
            return None
        os.unlink(moved)
        return BlobStat(st.st_size, st.st_mtime)

    def refresh(self, blobs: Iterable[str]) -> set[str]:
        gone = set()
        for blob in blobs:
            try:
                os.utime(self.path_of(blob))
            except FileNotFoundError:
                gone.add(blob)
            except PermissionError:  # another user's blob: it stays, but cannot be made young
                pass
        return gone

    def clean_temp(self, before: float) -> int:
        removed = 0
        for entry in os.scandir(self._tmp) if self._tmp.is_dir() else ():
            if not TEMP_NAME.fullmatch(entry.name):  # only what mlcd itself put there
                continue
            with contextlib.suppress(FileNotFoundError):  # a writer may finish meanwhile
                if entry.is_file() and entry.stat().st_mtime < before:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        return self._arrow_fs, str(self.path_of(blob))

    @cached_property
    def _arrow_fs(self) -> pyarrow.fs.FileSystem:  # one for all blobs: ~0.2 ms to make each
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem()
