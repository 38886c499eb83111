"""A store on any fsspec filesystem (`s3://bucket/prefix`, `az://container/prefix`, `memory://`)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

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

T = TypeVar("T")


class FsspecObjectStore:
    """Blobs under `<url>/b3/ab/cdef...`, uploaded to `<url>/tmp/` while hashed, then moved."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = self.root.rstrip("/")

    def _key(self, hexdigest: str) -> str:
        return f"{self.root}/{fanout(hexdigest)}"

    def _commit(self, tmp: str, hexdigest: str, size: int) -> PutResult:
        final = self._key(hexdigest)
        if self.fs.exists(final):
            self.fs.rm(tmp)
            return PutResult(blob_id(hexdigest), size, new=False)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)  # a no-op on object stores
        self.fs.mv(tmp, final)  # object stores: a server-side copy, never a partial object
        return PutResult(blob_id(hexdigest), size, new=True)

    def _guarded(self, write: Callable[[str], T]) -> T:
        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            return write(tmp)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self.fs.rm(tmp)
            if isinstance(exc, OSError):
                raise BackendError(f"cannot write to the store at {self.url}: {exc}") from exc
            raise

    def put_file(self, path: str | os.PathLike[str]) -> PutResult:
        return self.commit(self.stage_file(path))

    def stage_file(self, path: str | os.PathLike[str]) -> Staged:
        def write(tmp: str) -> Staged:
            with open(path, "rb", buffering=0) as src, self.fs.open(tmp, "wb") as out:
                hexdigest, size = copy_hashing(src, out)
            return Staged(tmp, hexdigest, size)

        return self._guarded(write)

    def commit(self, staged: Staged) -> PutResult:
        try:
            return self._commit(staged.key, staged.hexdigest, staged.size)
        except OSError as exc:
            raise BackendError(f"cannot write to the store at {self.url}: {exc}") from exc

    def commit_all(self, staged: list[Staged]) -> list[PutResult]:
        if len(staged) < 2:
            return [self.commit(s) for s in staged]
        from concurrent.futures import ThreadPoolExecutor

        # a round trip or two each: overlap them, but commit equal content once first, so the
        # copies find it stored (and say so) rather than racing it
        firsts = {s.hexdigest: s for s in reversed(staged)}
        with ThreadPoolExecutor(16) as pool:
            done = dict(zip(firsts.values(), pool.map(self.commit, firsts.values()), strict=True))
        return [done[s] if done.get(s) is not None else self.commit(s) for s in staged]

    def discard(self, staged: Staged) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(staged.key)

    def put_bytes(self, data: bytes) -> PutResult:
        def write(tmp: str) -> PutResult:
            self.fs.pipe_file(tmp, data)
            return self._commit(tmp, blake3(data).hexdigest(), len(data))

        return self._guarded(write)

    def has(self, blob: str) -> bool:
        return bool(self.fs.exists(self._key(check_blob_id(blob))))

    def missing(self, blobs: Iterable[str]) -> set[str]:
        from concurrent.futures import ThreadPoolExecutor

        wanted = sorted(set(blobs))
        with ThreadPoolExecutor(16) as pool:  # one round trip each; overlap them
            present = list(pool.map(self.has, wanted))
        return {b for b, ok in zip(wanted, present, strict=True) if not ok}

    def get_bytes(self, blob: str) -> bytes:
        try:
            data = self.fs.cat_file(self._key(check_blob_id(blob)))
        except FileNotFoundError:
            raise missing(blob, self.url) from None
        return verify(blob, bytes(data))

    def get_file(self, blob: str, dest: str | os.PathLike[str]) -> None:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            with self.open(blob) as src, open(tmp, "wb") as out:
                hexdigest, _ = copy_hashing(src, out)
            if blob_id(hexdigest) != blob:
                raise corrupt(blob, blob_id(hexdigest))
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def open(self, blob: str) -> BinaryIO:
        key = self._key(check_blob_id(blob))
        try:
            return cast(BinaryIO, self.fs.open(key, "rb"))
        except FileNotFoundError:
            raise missing(blob, self.url) from None

    def iter_blobs(self) -> Iterator[str]:
        base = f"{self.root}/b3"
        if not self.fs.exists(base):
            return
        for path in sorted(self.fs.find(base)):
            parts = path.rstrip("/").split("/")
            yield blob_id(parts[-2] + parts[-1])

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        import pyarrow.fs

        handler = pyarrow.fs.FSSpecHandler(self.fs)
        return pyarrow.fs.PyFileSystem(handler), self._key(check_blob_id(blob))
