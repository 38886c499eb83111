"""The append-only event log: every snapshot, run, registration and alias move is recorded.

Events are written in the same transaction as the change they describe, so there is never a
change without its event, nor an event without its change.
"""

from __future__ import annotations

import json
import os
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

    @property
    def depth(self) -> int:
        """0 for an event people caused; n + 1 for one caused by an action of a depth-n event."""
        return int(self.payload.get("cause", {}).get("depth", 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "at": self.at.isoformat(),
            "payload": self.payload,
        }


def emit(conn: SqlConnection, type_: str, subject: str, payload: dict[str, Any]) -> None:
    """Append an event inside the caller's transaction.

    Inside an action's command (MLCD_EVENT_ID is set, see actions.py) the event records its
    cause, so that a chain of actions causing events can be cut before it loops forever.
    """
    assert type_ in TYPES, type_
    if cause := os.environ.get("MLCD_EVENT_ID"):
        depth = int(os.environ.get("MLCD_EVENT_DEPTH", "0")) + 1
        payload = {**payload, "cause": {"event": int(cause), "depth": depth}}
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
