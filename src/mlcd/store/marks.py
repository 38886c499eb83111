"""Marks: which metadata DBs use a store.

`gc` deletes the blobs its own DB does not refer to, so two workspaces with separate metadata
DBs over one store (a team's bucket) would delete each other's data. Before its first write,
a workspace's store stores a small blob naming its DB's id (a *mark*); `gc` counts its own
mark as referenced and refuses while it finds the mark of another DB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcd.errors import IntegrityError, NotFoundError
from mlcd.store.base import hash_bytes

if TYPE_CHECKING:
    from mlcd.store.base import ObjectStore

PREFIX = b"mlcd metadata db "
SIZE = len(PREFIX) + 32 + 1  # a uuid4 in hex, and a newline


def mark(database_id: str) -> bytes:
    return PREFIX + database_id.encode() + b"\n"


def mark_blob(database_id: str) -> str:
    return hash_bytes(mark(database_id))


def read_mark(store: ObjectStore, blob: str, size: int) -> str | None:
    """The DB id a blob marks, or None when it is no mark (only blobs of a mark's size are
    read)."""
    if size != SIZE:
        return None
    try:
        data = store.get_bytes(blob)
    except (NotFoundError, IntegrityError):
        return None
    return data[len(PREFIX) : -1].decode() if data.startswith(PREFIX) else None
