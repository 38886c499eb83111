"""A version's profile: every column's statistics, computed once and stored by content id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlcd.checks import stats as column_stats
from mlcd.checks.stats import ColumnStats

if TYPE_CHECKING:
    from mlcd.data.reader import DatasetReader
    from mlcd.workspace import Workspace

_FIELDS = set(ColumnStats.__dataclass_fields__)


def get_profile(
    ws: Workspace, reader: DatasetReader, refresh: bool = False, histograms: bool = False
) -> dict[str, ColumnStats]:
    """The stored profile of the whole version, computing (and storing) it the first time."""
    cid = reader.version.content_id
    whole = reader.partitions is None and reader.columns is None
    if whole and not refresh:
        with ws.db.sql() as conn:
            rows = conn.execute("SELECT blob FROM profiles WHERE content_id = :c", {"c": cid})
        if rows:
            stored = _decode(ws.store.get_bytes(rows[0]["blob"]))
            numeric = [
                s
                for s in stored.values()
                if s.kind == "numeric"
                and s.min is not None
                and s.name not in reader.version.partitioning
            ]
            if not histograms or all(s.histogram for s in numeric):
                return stored
            # stored by a check run: add what the report needs, keep what was measured
            column_stats.add_distributions(reader, stored)
            _store(ws, cid, stored)
            return stored
    stats = column_stats.compute(reader, histograms=histograms)
    if whole:
        _store(ws, cid, stats)
    return stats


def store_profile(ws: Workspace, cid: str, stats: dict[str, ColumnStats]) -> None:
    """Replace the stored profile of a content id (e.g. after adding drift reference bins)."""
    _store(ws, cid, stats)


def _store(ws: Workspace, cid: str, stats: dict[str, ColumnStats]) -> None:
    blob = ws.store.put_bytes(encode(stats)).blob
    with ws.db.sql(write=True) as conn:  # an upsert: two checks may profile the same content
        conn.execute(
            "INSERT INTO profiles (content_id, blob, created_at) VALUES (:c, :b, :at)"
            " ON CONFLICT (content_id) DO UPDATE SET blob = excluded.blob,"
            " created_at = excluded.created_at",
            {"c": cid, "b": blob, "at": datetime.now(UTC)},
        )


def encode(stats: dict[str, ColumnStats]) -> bytes:
    # keys in the order of the columns: a stored profile reads back in the schema's order
    return json.dumps({k: v.to_dict() for k, v in stats.items()}).encode()


def _decode(data: bytes) -> dict[str, ColumnStats]:
    raw: dict[str, dict[str, Any]] = json.loads(data)
    return {k: ColumnStats(**{f: v for f, v in d.items() if f in _FIELDS}) for k, d in raw.items()}
