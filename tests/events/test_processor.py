"""Processing events: each action once, a cursor, claims taken over from dead processors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlcd.errors import ConfigError, InvalidNameError
from mlcd.events.log import ALIAS_MOVED, DATASET_SNAPSHOT, MODEL_REGISTERED, RUN_FINISHED
from mlcd.events.processor import process_events, worker_id
from tests.conftest import write_partitions
from tests.events.conftest import Hooked, Receiver, wait_for
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

MOVED = {"model": "churn", "version": 3, "alias": "production", "from_version": 2}


def cursor(hooked: Hooked, consumer: str = "default") -> int | None:
    with hooked.ws().db.sql() as conn:
        rows = conn.execute(
            "SELECT last_event_id FROM event_cursors WHERE consumer = :c", {"c": consumer}
        )
    return rows[0]["last_event_id"] if rows else None


def claim(hooked: Hooked, event_id: int, action: int, by: str, age: float = 0) -> None:
    """A claim as a processor would have left it, `age` seconds ago."""
    with hooked.ws().db.sql(write=True) as conn:
        conn.execute(
            "INSERT INTO event_actions (event_id, action, status, claimed_by, claimed_at,"
            " attempts) VALUES (:e, :a, 'claimed', :by, :at, 1)",
            {
                "e": event_id,
                "a": action,
                "by": by,
                "at": datetime.now(UTC) - timedelta(seconds=age),
            },
        )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_snapshots_fire_their_command_once_each(hooked: Hooked) -> None:
    ws = hooked.configure({DATASET_SNAPSHOT: "echo {dataset} {version} {subject} >> fired.txt"})
    src = write_partitions(ws.root / "data", ["2024-01-01"])
    ws.snapshot("sales", src)
    write_partitions(ws.root / "data", ["2024-01-02"])
    ws.snapshot("sales", src)

    results = ws.process_events()
    assert [(r.event_id, r.status, r.attempts) for r in results] == [(1, "done", 1), (2, "done", 1)]
    assert hooked.lines("fired.txt") == ["sales 1 sales@1", "sales 2 sales@2"]
    assert cursor(hooked) == 2
    assert ws.process_events() == []  # the cursor: nothing new
    assert hooked.lines("fired.txt") == ["sales 1 sales@1", "sales 2 sales@2"]
    ws.snapshot("sales", src)  # unchanged: no new version, no event
    assert ws.process_events() == []


def test_a_finished_run_fires_with_its_id_and_status(hooked: Hooked) -> None:
    ws = hooked.configure(
        {RUN_FINISHED: ["echo {run} {status} >> runs.txt"]},
        steps={"hello": {"run": "echo hi > hi.txt", "outputs": {"hi": "hi.txt"}}},
    )
    run = ws.run()
    assert [r.ok for r in ws.process_events()] == [True]
    assert hooked.lines("runs.txt") == [f"{run.run_id} succeeded"]


def test_a_payload_value_is_data_never_code(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {alias} >> aliases.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", {**MOVED, "alias": "x; touch pwned; $(touch pwned2)"})
    assert [r.ok for r in ws.process_events()] == [True]
    assert hooked.lines("aliases.txt") == ["x; touch pwned; $(touch pwned2)"]
    assert not (ws.root / "pwned").exists() and not (ws.root / "pwned2").exists()


def test_a_failed_action_is_recorded_settled_and_not_retried(hooked: Hooked) -> None:
    ws = hooked.configure(
        {MODEL_REGISTERED: ["echo no >&2; exit 2", "echo {model}@{version} >> ok.txt"]}
    )
    hooked.emit(MODEL_REGISTERED, "churn@1", {"model": "churn", "version": 1})
    first, second = ws.process_events()
    assert (first.status, first.error) == ("failed", "command failed (exit 2): no")
    assert second.ok and hooked.lines("ok.txt") == ["churn@1"]  # actions are independent
    rows = hooked.claims()
    assert [(r["status"], r["error"], r["attempts"]) for r in rows] == [
        ("failed", "command failed (exit 2): no", 1),
        ("done", None, 1),
    ]
    assert all(r["finished_at"] is not None and r["claimed_by"] == worker_id() for r in rows)
    assert ws.process_events() == [] and cursor(hooked) == 1


def test_events_without_actions_move_the_cursor(hooked: Hooked) -> None:
    ws = hooked.configure({MODEL_REGISTERED: "echo {model} >> m.txt"})
    hooked.emit(RUN_FINISHED, "r1", {"run": "r1", "status": "succeeded"}, n=3)
    assert ws.process_events() == []
    assert cursor(hooked) == 3 and hooked.claims() == []


def test_a_bad_on_section_is_reported_before_anything_runs(hooked: Hooked) -> None:
    ws = hooked.configure({"snapshot": "echo hi >> x.txt"})
    hooked.emit(DATASET_SNAPSHOT, "sales@1", {"dataset": "sales", "version": 1})
    with pytest.raises(ConfigError, match=r"on\.snapshot: unknown event type"):
        ws.process_events()
    assert cursor(hooked) is None
    with pytest.raises(InvalidNameError):
        ws.process_events("no/slash")


def test_webhooks_post_each_event_once_as_json(hooked: Hooked, receiver: Receiver) -> None:
    ws = hooked.configure({ALIAS_MOVED: {"webhook": receiver.url + "/hook"}})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED, n=3)
    assert [r.ok for r in ws.process_events()] == [True] * 3
    assert ws.process_events() == []
    posts = receiver.posts("/hook")
    assert [p["id"] for p in posts] == [1, 2, 3]
    assert posts[0]["type"] == ALIAS_MOVED and posts[0]["subject"] == "churn@3"
    assert posts[0]["payload"] == MOVED
    headers = receiver.headers("/hook")
    assert [h["X-Mlcd-Delivery"] for h in headers] == ["1.0", "2.0", "3.0"]
    assert headers[0]["X-Mlcd-Event"] == ALIAS_MOVED
    assert headers[0]["Content-Type"] == "application/json"


def test_a_webhook_answering_500_twice_is_retried(hooked: Hooked, receiver: Receiver) -> None:
    receiver.script["/flaky"] = [500, 502]
    ws = hooked.configure({MODEL_REGISTERED: {"webhook": receiver.url + "/flaky"}})
    hooked.emit(MODEL_REGISTERED, "churn@1", {"model": "churn", "version": 1})
    started = time.monotonic()
    (result,) = ws.process_events()
    assert result.ok and result.attempts == 1
    assert len(receiver.posts("/flaky")) == 3
    assert time.monotonic() - started >= 1.5  # backoff: 0.5 s, then 1 s


def test_a_webhook_answering_404_fails_without_retry(hooked: Hooked, receiver: Receiver) -> None:
    receiver.script["/gone"] = [404]
    ws = hooked.configure({MODEL_REGISTERED: {"webhook": receiver.url + "/gone"}})
    hooked.emit(MODEL_REGISTERED, "churn@1", {"model": "churn", "version": 1})
    (result,) = ws.process_events()
    assert result.status == "failed" and result.error is not None
    assert "answered HTTP 404 Not Found" in result.error
    assert len(receiver.posts("/gone")) == 1
    assert ws.process_events() == [] and len(receiver.posts("/gone")) == 1


def test_a_claim_of_a_dead_process_is_taken_over(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {alias} >> moved.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    claim(hooked, 1, 0, f"{socket.gethostname()}:{dead_pid()}")
    (result,) = ws.process_events()
    assert result.ok and result.attempts == 2
    assert hooked.lines("moved.txt") == ["production"]
    assert [(r["status"], r["claimed_by"]) for r in hooked.claims()] == [("done", worker_id())]


def test_a_live_claim_is_left_alone_and_holds_back_the_cursor(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: ["echo a{id} >> moved.txt", "echo b{id} >> moved.txt"]})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED, n=2)
    claim(hooked, 1, 0, worker_id())  # alive: this very process
    claim(hooked, 2, 0, "elsewhere:1")  # another host, recently
    assert ws.process_events() == []  # an event's actions run in order: b waits for a
    assert hooked.lines("moved.txt") == [] and cursor(hooked) is None

    with hooked.ws().db.sql(write=True) as conn:  # the holder of event 1's claim finishes
        conn.execute("UPDATE event_actions SET status = 'done' WHERE event_id = 1")
    assert [(r.event_id, r.action) for r in ws.process_events()] == [(1, 1)]
    assert hooked.lines("moved.txt") == ["b1"] and cursor(hooked) == 1


def test_a_claim_not_refreshed_for_the_timeout_is_taken_over(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    claim(hooked, 1, 0, "elsewhere:1", age=30)
    assert ws.process_events(claim_timeout=60) == []
    assert [r.attempts for r in ws.process_events(claim_timeout=10)] == [2]
    assert hooked.lines("moved.txt") == ["1"]


def test_a_running_action_keeps_its_claim_fresh(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt; touch started; sleep 1"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    first = threading.Thread(target=lambda: ws.process_events(claim_timeout=0.5))
    first.start()
    wait_for((ws.root / "started").exists)
    time.sleep(0.7)  # longer than the timeout: only the heartbeat keeps the claim
    assert hooked.ws().process_events(claim_timeout=0.5) == []
    first.join()
    assert hooked.lines("moved.txt") == ["1"]
    assert [r["status"] for r in hooked.claims()] == ["done"]


def test_an_outcome_after_a_takeover_is_not_recorded(hooked: Hooked) -> None:
    (hooked.root / "steal.py").write_text(  # another processor takes the claim over
        "import mlcd\n"
        "with mlcd.open_workspace().db.sql(write=True) as db:\n"
        "    db.execute(\"UPDATE event_actions SET claimed_by = 'other:1', attempts = 2\")\n"
    )
    ws = hooked.configure({ALIAS_MOVED: "python steal.py"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    (result,) = ws.process_events()
    assert result.ok and not result.recorded
    assert [(r["status"], r["claimed_by"]) for r in hooked.claims()] == [("claimed", "other:1")]


def test_the_cursor_waits_at_a_fresh_gap_in_ids(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)

    def insert(event_id: int, age: float) -> None:
        with hooked.ws().db.sql(write=True) as conn:
            conn.execute(
                "INSERT INTO events (id, type, subject, at, payload)"
                " VALUES (:id, 'alias_moved', 'churn@3', :at, :payload)",
                {
                    "id": event_id,
                    "at": datetime.now(UTC) - timedelta(seconds=age),
                    "payload": json.dumps(MOVED),
                },
            )

    insert(3, age=0)  # 2 may still be committing (PostgreSQL hands out ids before commit)
    assert [r.event_id for r in ws.process_events()] == [1, 3]
    assert cursor(hooked) == 1
    insert(2, age=0)  # ... and it was
    assert [r.event_id for r in ws.process_events()] == [2]
    assert cursor(hooked) == 3
    insert(5, age=120)  # a gap older than the grace is a rolled-back insert
    assert [r.event_id for r in ws.process_events()] == [5]
    assert cursor(hooked) == 5
    assert hooked.lines("moved.txt") == ["1", "3", "2", "5"]


def test_consumers_keep_their_own_cursor_but_share_claims(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    assert len(ws.process_events("ci")) == 1
    assert ws.process_events("laptop") == []
    assert (cursor(hooked, "ci"), cursor(hooked, "laptop")) == (1, 1)
    assert hooked.lines("moved.txt") == ["1"]


def test_a_set_stop_event_runs_nothing(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    stop = threading.Event()
    stop.set()
    assert process_events(ws, stop=stop) == []
    assert hooked.lines("moved.txt") == [] and cursor(hooked) is None


def test_actions_run_in_the_workspace_root(hooked: Hooked, tmp_path: Path) -> None:
    ws = hooked.configure({ALIAS_MOVED: "pwd > where.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    ws.process_events()
    assert Path(hooked.lines("where.txt")[0]).resolve() == ws.root.resolve()
