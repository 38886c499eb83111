"""A store in a local folder, with plain OS calls: the fast default (`.mlcd/objects`)."""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from blake3 import blake3

from mlcd.errors import BackendError
from mlcd.store.base import (
    PutResult,
    Staged,
    blob_id,
    check_blob_id,
    copy_hashing,
    corrupt,
    fanout,
    missing,
    verify,
)

if TYPE_CHECKING:
    import pyarrow.fs

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class LocalObjectStore:
    """Blobs under `root/b3/ab/cdef...`; temp files under `root/tmp/` are renamed into place."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)
        self._tmp = self.root / "tmp"

    def path_of(self, blob: str) -> Path:
        return self.root / fanout(check_blob_id(blob))

    def _tmp_path(self) -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp / uuid.uuid4().hex

    def _commit(self, tmp: Path, hexdigest: str, size: int) -> PutResult:
        final = self.root / fanout(hexdigest)
        if final.exists():  # deduplicated: the same content is already stored
            tmp.unlink()
            return PutResult(blob_id(hexdigest), size, new=False)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, _READ_ONLY)  # blobs are immutable; guard against editing them in place
        os.replace(tmp, final)
        return PutResult(blob_id(hexdigest), size, new=True)

    def put_file(self, path: str | os.PathLike[str]) -> PutResult:
        return self.commit(self.stage_file(path))

    def stage_file(self, path: str | os.PathLike[str]) -> Staged:
        tmp = self._tmp_path()
        try:
            with open(path, "rb", buffering=0) as src, open(tmp, "wb", buffering=0) as out:
                hexdigest, size = copy_hashing(src, out)
            return Staged(str(tmp), hexdigest, size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def commit(self, staged: Staged) -> PutResult:
        return self._commit(Path(staged.key), staged.hexdigest, staged.size)

    def discard(self, staged: Staged) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.key)

    def put_bytes(self, data: bytes) -> PutResult:
        tmp = self._tmp_path()
        try:
            tmp.write_bytes(data)
            return self._commit(tmp, blake3(data).hexdigest(), len(data))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def has(self, blob: str) -> bool:
        return self.path_of(blob).is_file()

    def missing(self, blobs: Iterable[str]) -> set[str]:
        return {b for b in blobs if not self.has(b)}  # a stat each: cheaper than a thread pool

    def get_bytes(self, blob: str) -> bytes:
        try:
            data = self.path_of(blob).read_bytes()
        except FileNotFoundError:
            raise missing(blob, self.url) from None
        return verify(blob, data)

    def get_file(self, blob: str, dest: str | os.PathLike[str]) -> None:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(self.path_of(blob), "rb", buffering=0) as src, open(tmp, "wb") as out:
                hexdigest, _ = copy_hashing(src, out)
            if blob_id(hexdigest) != blob:
                raise corrupt(blob, blob_id(hexdigest))
            os.replace(tmp, dest)
        except FileNotFoundError as exc:
            if exc.filename == str(self.path_of(blob)):
                raise missing(blob, self.url) from None
            raise BackendError(f"cannot write {dest}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

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
            for entry in sorted(sub.iterdir()):
                yield blob_id(sub.name + entry.name)

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem(), str(self.path_of(blob))
