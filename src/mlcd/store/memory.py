"""An in-memory store: the test double for code that takes an ObjectStore."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from mlcd.store.base import (
    PREFIX,
    BlobStat,
    ObjectStore,
    PutResult,
    Staged,
    check_blob_id,
    hash_bytes,
    missing,
    verify,
)

if TYPE_CHECKING:
    import pyarrow.fs


class MemoryObjectStore(ObjectStore):
    """Blobs in a dict. `corrupt()` damages one, to test what readers do with bad content."""

    def __init__(self) -> None:
        self.url = "memory"
        self.blobs: dict[str, bytes] = {}
        self.written: dict[str, float] = {}
        self.staged: dict[str, tuple[bytes, float]] = {}

    def stage_file(
        self, path: str | os.PathLike[str], cancel: threading.Event | None = None
    ) -> Staged:
        with open(path, "rb") as f:
            data = f.read()
        key = uuid.uuid4().hex
        self.staged[key] = (data, time.time())
        return Staged(key, hash_bytes(data)[len(PREFIX) :], len(data))

    def commit(self, staged: Staged) -> PutResult:
        self._mark_owner()
        return self.put_bytes(self.staged.pop(staged.key)[0])

    def discard(self, staged: Staged) -> None:
        self.staged.pop(staged.key, None)

    def put_bytes(self, data: bytes) -> PutResult:
        self._mark_owner()
        blob = hash_bytes(data)
        new = blob not in self.blobs
        if new:
            self.blobs[blob] = bytes(data)
        self.written[blob] = time.time()  # in use again: young for `gc`
        return PutResult(blob, len(data), new)

    def get_bytes(self, blob: str) -> bytes:
        check_blob_id(blob)
        if blob not in self.blobs:
            raise missing(blob, self.url)
        return verify(blob, self.blobs[blob])

    def open(self, blob: str) -> BinaryIO:
        check_blob_id(blob)
        if blob not in self.blobs:
            raise missing(blob, self.url)
        return io.BytesIO(self.blobs[blob])

    def iter_blobs(self) -> Iterator[str]:
        yield from sorted(self.blobs)

    def stat(self, blob: str) -> BlobStat:
        check_blob_id(blob)
        if blob not in self.blobs:
            raise missing(blob, self.url)
        return BlobStat(len(self.blobs[blob]), self.written[blob])

    def delete(self, blob: str) -> None:
        check_blob_id(blob)
        self.blobs.pop(blob, None)
        self.written.pop(blob, None)

    def clean_temp(self, before: float) -> int:
        old = [key for key, (_, at) in self.staged.items() if at < before]
        for key in old:
            del self.staged[key]
        return len(old)

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        raise NotImplementedError("MemoryObjectStore cannot be read by pyarrow in place")

    def corrupt(self, blob: str) -> None:
        self.blobs[blob] = b"damaged" + self.blobs[blob]
