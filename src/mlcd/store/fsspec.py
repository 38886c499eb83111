"""A store on any fsspec filesystem (`s3://bucket/prefix`, `az://container/prefix`, `memory://`)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from functools import cached_property
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from blake3 import blake3

from mlcd.errors import BackendError
from mlcd.store import drivers
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

T = TypeVar("T")

# The base classes of what the drivers raise besides OSError, found only if the driver is loaded.
_DRIVER_ERRORS = {
    "botocore.exceptions": ("BotoCoreError", "ClientError"),  # s3fs (e.g. no connection)
    "azure.core.exceptions": ("AzureError",),  # adlfs
}


# Where the endpoint and credentials of a URL scheme's driver come from, for error hints.
_SETTINGS = {
    "s3": "AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_PROFILE",
    "az": "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME and _KEY)",
    "abfs": "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME and _KEY)",
}


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    for module, names in _DRIVER_ERRORS.items():
        if module in sys.modules:
            errors += [getattr(sys.modules[module], name) for name in names]
    return tuple(errors)


class FsspecObjectStore(ObjectStore):
    """Blobs under `<url>/b3/ab/cdef...`, uploaded to `<url>/tmp/` while hashed, then moved.

    Credentials and endpoints come from `storage_options` or, as `mlcd.yaml` gives only a URL,
    from the driver's own environment variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...;
    `AZURE_STORAGE_CONNECTION_STRING`, ...) and config files.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        # s3fs and adlfs cache listings in the filesystem object, which fsspec shares within
        # the process: a blob deleted by another client would still "exist", and a put of its
        # content would be deduplicated against nothing. Every question goes to the server.
        storage_options.setdefault("use_listings_cache", False)
        scheme = url.partition("://")[0]
        if scheme in drivers.S3_SCHEMES:
            storage_options = drivers.s3_options(storage_options)
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        self._copy: Callable[[str, str], None] = self.fs.cp_file
        if scheme in drivers.S3_SCHEMES:
            drivers.tune_s3(self.fs)
        self._azure = scheme in drivers.AZURE_SCHEMES
        if self._azure:
            drivers.tune_azure(self.fs)
            self._copy = functools.partial(drivers.copy_azure_blob, self.fs)
        # A local file system has folders to make and renames atomically; anything else is
        # treated as an object store: flat keys, server-side copies, no bucket ever created
        # (a typo in the URL must not start a new store).
        self._folders = isinstance(self.fs, LocalFileSystem)
        self._tmp_made = not self._folders

    def _key(self, hexdigest: str) -> str:
        return f"{self.root}/{fanout(hexdigest)}"

    @contextlib.contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """The driver's errors (network, permissions, a missing bucket) as a BackendError."""
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, _driver_errors()):
                raise
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]  # Azure's: 6 lines
            settings = _SETTINGS.get(self.url.partition("://")[0], "the driver's settings")
            raise BackendError(
                f"cannot {doing} the store at {self.url}: {reason}",
                hint=f"check the store URL in mlcd.yaml, the bucket, and {settings}",
            ) from exc

    def _move(self, tmp: str, final: str) -> None:
        if self._folders:  # one atomic rename
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(tmp, final)
        else:
            # a server-side copy: never a partial object. File-level calls, as `mv` would
            # first list both keys as folders (three more round trips)
            self._copy(tmp, final)
            self.fs.rm_file(tmp)

    def _commit(self, tmp: str, hexdigest: str, size: int) -> PutResult:
        final = self._key(hexdigest)
        new = not self.fs.exists(final)
        # a deduplicated blob is still written over (the same bytes): it is in use again, and
        # its new write time keeps `mlcd gc` from collecting it as old garbage
        self._move(tmp, final)
        return PutResult(blob_id(hexdigest), size, new=new)

    def _guarded(self, write: Callable[[str], T]) -> T:
        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        try:
            with self._failures("write to"):
                if not self._tmp_made:  # once per store
                    self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
                    self._tmp_made = True
                return write(tmp)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            raise

    def stage_file(
        self, path: str | os.PathLike[str], cancel: threading.Event | None = None
    ) -> Staged:
        # opened first: a missing source is the caller's FileNotFoundError, as in every store
        with open(path, "rb", buffering=0) as src:

            def write(tmp: str) -> Staged:
                with self.fs.open(tmp, "wb") as out:
                    hexdigest, size = copy_hashing(src, out, cancel)
                return Staged(tmp, hexdigest, size)

            return self._guarded(write)

    def commit(self, staged: Staged) -> PutResult:
        self._mark_owner()
        with self._failures("write to"):
            return self._commit(staged.key, staged.hexdigest, staged.size)

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
            self.fs.rm_file(staged.key)

    def put_bytes(self, data: bytes) -> PutResult:
        self._mark_owner()

        def write(tmp: str) -> PutResult:
            self.fs.pipe_file(tmp, data)
            return self._commit(tmp, blake3(data).hexdigest(), len(data))

        return self._guarded(write)

    def has(self, blob: str) -> bool:  # one request, where `stat` takes two
        key = self._key(check_blob_id(blob))
        with self._failures("read from"):
            return bool(self.fs.exists(key))

    def missing(self, blobs: Iterable[str]) -> set[str]:
        from concurrent.futures import ThreadPoolExecutor

        wanted = sorted(set(blobs))
        with ThreadPoolExecutor(16) as pool:  # one round trip each; overlap them
            present = list(pool.map(self.has, wanted))
        return {b for b, ok in zip(wanted, present, strict=True) if not ok}

    def get_bytes(self, blob: str) -> bytes:
        key = self._key(check_blob_id(blob))
        with self._failures("read from"):
            try:
                data = self.fs.cat_file(key)
            except FileNotFoundError:
                raise missing(blob, self.url) from None
        return verify(blob, bytes(data))

    def get_file(self, blob: str, dest: str | os.PathLike[str]) -> None:
        with self._failures("read from"):  # a connection lost mid-copy: a BackendError
            super().get_file(blob, dest)

    def open(self, blob: str) -> BinaryIO:
        key = self._key(check_blob_id(blob))
        with self._failures("read from"):
            try:
                return cast(BinaryIO, self.fs.open(key, "rb"))
            except FileNotFoundError:
                raise missing(blob, self.url) from None

    def iter_blobs(self) -> Iterator[str]:
        base = f"{self.root}/b3/"
        with self._failures("list"):
            try:
                paths = sorted(self.fs.find(base))
            except FileNotFoundError:  # no blob yet
                paths = []
            if not paths:  # or no bucket: that is no empty store (fsck would call all missing)
                self._check_bucket()
        for path in paths:
            folder, _, name = path.removeprefix(base).partition("/")
            blob = blob_at(folder, name)
            if blob is not None:
                yield blob

    def _check_bucket(self) -> None:
        bucket = self.root.split("/", 1)[0]
        if not self._folders and not self.fs.exists(bucket):
            raise BackendError(
                f"store {self.url}: bucket (container) {bucket!r} does not exist",
                hint="create it, or fix `store:` in mlcd.yaml; mlcd never creates one",
            )

    def stat(self, blob: str) -> BlobStat:
        key = self._key(check_blob_id(blob))
        with self._failures("read from"):
            try:
                return BlobStat(int(self.fs.info(key)["size"]), self._modified(key))
            except FileNotFoundError:
                raise missing(blob, self.url) from None

    def _modified(self, key: str) -> float:
        moment = self.fs.modified(key)
        if moment.tzinfo is None:  # drivers that give naive times give UTC
            moment = moment.replace(tzinfo=UTC)
        return float(moment.timestamp())

    def _delete_unless_modified(self, blob: str, before: float) -> bool:
        if not self._azure:  # S3 has no delete conditional on time
            return super()._delete_unless_modified(blob, before)
        key = self._key(check_blob_id(blob))
        with self._failures("delete from"):
            return drivers.delete_azure_blob_unless_modified(self.fs, key, before)

    def delete(self, blob: str) -> None:
        key = self._key(check_blob_id(blob))
        with self._failures("delete from"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(key)

    def clean_temp(self, before: float) -> int:
        removed = 0
        with self._failures("clean"):
            try:
                keys = self.fs.find(f"{self.root}/tmp/")
            except FileNotFoundError:
                return 0
            for key in keys:
                if not TEMP_NAME.fullmatch(key.rsplit("/", 1)[-1]):  # only what mlcd put there
                    continue
                with contextlib.suppress(FileNotFoundError):  # a writer may finish meanwhile
                    if self._modified(key) < before:
                        self.fs.rm_file(key)
                        removed += 1
        return removed

    def arrow_location(self, blob: str) -> tuple[pyarrow.fs.FileSystem, str]:
        return self._arrow_fs, self._key(check_blob_id(blob))

    @cached_property
    def _arrow_fs(self) -> pyarrow.fs.FileSystem:  # one for all blobs
        import pyarrow.fs

        return pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(self.fs))
