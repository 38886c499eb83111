"""Content-addressed blob storage: pick a backend by URL, use it through `ObjectStore`."""

from __future__ import annotations

import os
from pathlib import Path

from mlcd.store.base import (
    BlobStat,
    ObjectStore,
    PutResult,
    Staged,
    check_blob_id,
    hash_bytes,
    hash_file,
)
from mlcd.store.local import LocalObjectStore

__all__ = [
    "BlobStat",
    "LocalObjectStore",
    "ObjectStore",
    "PutResult",
    "Staged",
    "check_blob_id",
    "hash_bytes",
    "hash_file",
    "open_store",
]


def open_store(location: str, base: str | os.PathLike[str] = ".") -> ObjectStore:
    """A store for a local path (relative to `base`) or any fsspec URL (`s3://`, `az://`, ...)."""
    if "://" in location and not location.startswith("file://"):
        from mlcd.store.fsspec import FsspecObjectStore

        return FsspecObjectStore(location)
    path = Path(location.removeprefix("file://"))
    return LocalObjectStore(path if path.is_absolute() else Path(base) / path)
