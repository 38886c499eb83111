"""Marks: which metadata DBs use a store, and from where.

`gc` deletes the blobs its own DB does not refer to, so two workspaces with separate metadata
DBs over one store (a team's bucket) would delete each other's data. Before its first write,
a workspace's store stores a small blob (a *mark*) naming its DB's id and where it writes from
(the DB URL without password, the workspace folder, the host). `gc` keeps the marks of its own
DB and refuses while it finds the mark of another, naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlcd.errors import IntegrityError, NotFoundError

if TYPE_CHECKING:
    from mlcd.store.base import ObjectStore

PREFIX = b"mlcd metadata db "
MAX_SIZE = 4096  # only blobs this small are read to look for marks


@dataclass(frozen=True)
class Mark:
    database_id: str
    about: dict[str, str] = field(default_factory=dict)  # db, workspace, host

    def encode(self) -> bytes:
        about = json.dumps(self.about, sort_keys=True)[: MAX_SIZE // 2]
        return PREFIX + self.database_id.encode() + b"\n" + about.encode() + b"\n"

    def describe(self) -> str:
        where = ", ".join(f"{k} {v}" for k, v in sorted(self.about.items()))
        return f"{self.database_id} ({where})" if where else self.database_id


def decode(data: bytes) -> Mark | None:
    if not data.startswith(PREFIX) or len(data) > MAX_SIZE:
        return None
    head, _, rest = data[len(PREFIX) :].partition(b"\n")
    try:
        about = json.loads(rest) if rest.strip() else {}
        return Mark(head.decode(), {str(k): str(v) for k, v in about.items()})
    except (ValueError, AttributeError):
        return None


def find_marks(store: ObjectStore, blobs: Iterable[str]) -> dict[str, Mark]:
    """The marks among `blobs` (blobs no DB row refers to), by blob id."""
    found = {}
    for blob in blobs:
        try:
            if store.stat(blob).size > MAX_SIZE:
                continue
            mark = decode(store.get_bytes(blob))
        except (NotFoundError, IntegrityError):  # removed or damaged meanwhile: no mark
            continue
        if mark is not None:
            found[blob] = mark
    return found
