"""The append-only event log: every snapshot, run, registration and alias move is recorded.

Events are written in the same transaction as the change they describe, so there is never a
change without its event, nor an event without its change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlcd.meta.db import SqlConnection, parse_datetime

DATASET_SNAPSHOT = "dataset_snapshot"
RUN_FINISHED = "run_finished"
MODEL_REGISTERED = "model_registered"
ALIAS_MOVED = "alias_moved"
TYPES = (DATASET_SNAPSHOT, RUN_FINISHED, MODEL_REGISTERED, ALIAS_MOVED)


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    subject: str  # what it is about: "sales@3", a run id, "churn@2"
    at: datetime
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "at": self.at.isoformat(),
            "payload": self.payload,
        }


def emit(conn: SqlConnection, type_: str, subject: str, payload: dict[str, Any]) -> None:
    """Append an event inside the caller's transaction."""
    assert type_ in TYPES, type_
    conn.execute(
        "INSERT INTO events (type, subject, at, payload) VALUES (:type, :subject, :at, :payload)",
        {
            "type": type_,
            "subject": subject,
            "at": datetime.now(UTC),
            "payload": json.dumps(payload, default=str),
        },
    )


def list_events(
    conn: SqlConnection, after: int = 0, type_: str | None = None, limit: int = 1000
) -> list[Event]:
    """Events with id > `after`, oldest first."""
    sql = "SELECT * FROM events WHERE id > :after"
    params: dict[str, Any] = {"after": after, "limit": limit}
    if type_ is not None:
        sql += " AND type = :type"
        params["type"] = type_
    rows = conn.execute(sql + " ORDER BY id LIMIT :limit", params)
    return [
        Event(r["id"], r["type"], r["subject"], parse_datetime(r["at"]), json.loads(r["payload"]))  # type: ignore[arg-type]
        for r in rows
    ]
