"""Content-addressed blob storage: pick a backend by URL, use it through `ObjectStore`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from mlcd.store.marks import Mark

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


def open_store(
    location: str, base: str | os.PathLike[str] = ".", owner: Callable[[], Mark] | None = None
) -> ObjectStore:
    """A store for a local path (relative to `base`) or any fsspec URL (`s3://`, `az://`, ...).

    `owner` gives the mark of the metadata DB that writes through it (`mlcd.store.marks`).
    """
    store: ObjectStore
    if "://" in location and not location.startswith("file://"):
        from mlcd.store.fsspec import FsspecObjectStore

        store = FsspecObjectStore(location)
    else:
        path = Path(location.removeprefix("file://"))
        store = LocalObjectStore(path if path.is_absolute() else Path(base) / path)
    store.owner = owner
    return store
