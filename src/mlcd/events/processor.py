"""Running the actions of new events once each, across crashes and concurrent processors.

How: an action of an event is claimed by inserting its (event id, action index) row into
`event_actions` in a short write transaction; the primary key lets exactly one processor win.
The winner runs the action outside any transaction, refreshing its claim meanwhile (a heartbeat),
then marks it `done` or `failed`. A settled action is never run again. A per-consumer cursor in
`event_cursors` moves past events whose actions are all settled, so `process_events` reads only
new events and costs one small query when there are none.

Guarantees:
    Exactly once for every action whose processor lives to record the outcome: a second
    processor, concurrent or later, never runs a claimed or settled action. A failed action is
    settled too; it is not retried (a webhook is retried within its one run, see actions.py).

    At least once, when a processor dies: a claim whose holder is gone is taken over and the
    action runs again, so an action that had taken effect before the crash (the command ran, the
    webhook was delivered) but had not been marked done runs twice. A holder is gone when it ran
    on this host and its pid is no longer alive (taken over at once), or when its claim has not
    been refreshed for `claim_timeout` seconds (another host, or a hung process). A processor
    that is stalled longer than that (suspended, cut off from the DB) can therefore overlap with
    the one that took over; its late outcome is then not recorded (`ActionResult.recorded`).
    Ctrl-C during an action gives the claim up, so the interrupted action runs again next time.
    Webhooks carry `X-Mlcd-Delivery: <event id>.<action index>` for receivers to drop duplicates.

Order: one processor runs events in id order and an event's actions in `on:` order; with several
processors, events run side by side but an event's actions still run in order.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlcd.errors import ConfigError, InvalidNameError, MlcdError
from mlcd.events.actions import Action, parse_actions, run_action
from mlcd.events.log import Event, list_events
from mlcd.meta.db import SqlConnection, parse_datetime
from mlcd.names import validate_name

if TYPE_CHECKING:
    from mlcd.workspace import Workspace

CLAIMED, DONE, FAILED = "claimed", "done", "failed"
HELD, SETTLED = "held", "settled"  # why an action was not claimed
CLAIM_TIMEOUT = 300.0  # seconds without a heartbeat after which a claim is taken over
# On PostgreSQL ids are handed out before commit, so event 11 can be visible before event 10:
# the cursor waits this long at a gap in ids before it takes the gap as a rolled-back insert.
GAP_GRACE = 60.0
BATCH = 500

ResultCallback = Callable[["ActionResult"], None]


@dataclass(frozen=True)
class ActionResult:
    """One action run for one event."""

    event_id: int
    event_type: str
    subject: str
    action: int  # index in the event type's list of `on:`
    description: str  # "shell: mlcd run", "webhook: https://..."
    status: str  # done, failed
    attempts: int  # claims of this action so far, 1 unless a crashed claim was taken over
    error: str | None
    seconds: float
    recorded: bool = True  # False: the claim was taken over meanwhile, the outcome is dropped
    output: str = ""  # the tail of a command's output

    @property
    def ok(self) -> bool:
        return self.status == DONE

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def worker_id() -> str:
    """Who holds a claim: `host:pid`, so a claim of a dead local process can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_events(
    ws: Workspace,
    consumer: str = "default",
    *,
    claim_timeout: float = CLAIM_TIMEOUT,
    stop: threading.Event | None = None,
    on_result: ResultCallback | None = None,
) -> list[ActionResult]:
    """Run the actions `on:` configures for every event past `consumer`'s cursor.

    Args:
        consumer: the name of the cursor; claims are shared by every consumer, so two
            consumers never run the same action twice either.
        claim_timeout: seconds after which a claim not refreshed is taken over.
        stop: when set, return after the action that is running.
        on_result: called with each result as soon as its action is settled.

    Returns:
        The actions run by this call, in the order they ran.

    Raises:
        ConfigError: `on:` in mlcd.yaml is malformed.
    """
    if claim_timeout <= 0:
        raise ValueError(f"claim_timeout must be positive, got {claim_timeout}")
    validate_name(consumer, "consumer")
    if len(consumer) > 64:
        raise InvalidNameError(f"consumer name {consumer!r} is longer than 64 characters")
    actions = parse_actions(ws.config.on)
    with ws.db.sql() as conn:
        cursor = _read_cursor(conn, consumer)
    results: list[ActionResult] = []
    position = cursor
    advancing = True  # the cursor moves only over an unbroken run of settled events
    while not (stop and stop.is_set()):
        with ws.db.sql() as conn:
            events = list_events(conn, after=position, limit=BATCH)
            if not events:
                break
            claims = _claims(conn, events[0].id, events[-1].id)
        for event in events:
            results += _act_on(
                ws, event, actions.get(event.type, ()), claims, claim_timeout, stop, on_result
            )
        if advancing:
            with ws.db.sql() as conn:
                claims = _claims(conn, events[0].id, events[-1].id)
            settled = _settled_prefix(events, actions, claims, cursor)
            advancing = settled == events[-1].id
            if settled > cursor:
                with ws.db.sql(write=True) as conn:
                    _save_cursor(conn, consumer, settled)
                cursor = settled
        position = events[-1].id
        if len(events) < BATCH:
            break
    return results


def skip_events(ws: Workspace, consumer: str = "default") -> tuple[int, int]:
    """Move `consumer`'s cursor past every event logged so far: their actions will not run
    for it (for a new `on:` in a workspace with history). Returns (cursor before, after)."""
    validate_name(consumer, "consumer")
    with ws.db.sql(write=True) as conn:
        before = _read_cursor(conn, consumer)
        last = conn.execute("SELECT MAX(id) AS last FROM events")[0]["last"] or 0
        _save_cursor(conn, consumer, int(last))
        return before, max(before, int(last))


def watch(
    ws: Workspace,
    interval: float = 2.0,
    stop: threading.Event | None = None,
    *,
    consumer: str = "default",
    claim_timeout: float = CLAIM_TIMEOUT,
    on_result: ResultCallback | None = None,
    on_config_error: Callable[[ConfigError], None] | None = None,
) -> int:
    """Process events every `interval` seconds until `stop` is set; returns the actions run.

    mlcd.yaml is re-read each round, so an edited `on:` takes effect without a restart; a
    malformed edit goes to `on_config_error` and the last good config stays in force.
    Ctrl-C (KeyboardInterrupt) propagates after the running action's claim is given up, so
    nothing is left claimed by a process about to exit.
    """
    stop = stop or threading.Event()
    count = 0
    while not stop.is_set():
        previous = ws.config
        try:
            if ws.reload_config():
                # an editor may be writing it: adopt an edit only once it reads the same twice
                edited = ws.config
                stop.wait(min(interval, 0.2))
                ws.reload_config()
                if ws.config != edited:
                    ws.config = previous
            parse_actions(ws.config.on)  # an unknown event type or placeholder, too
        except ConfigError as exc:
            ws.config = previous
            if on_config_error is not None:
                on_config_error(exc)
        count += len(
            process_events(
                ws, consumer, claim_timeout=claim_timeout, stop=stop, on_result=on_result
            )
        )
        stop.wait(interval)
    return count


def _act_on(
    ws: Workspace,
    event: Event,
    actions: tuple[Action, ...],
    claims: dict[tuple[int, int], dict[str, Any]],
    claim_timeout: float,
    stop: threading.Event | None,
    on_result: ResultCallback | None,
) -> list[ActionResult]:
    """Run the actions of one event that are not settled, in order, while none is held."""
    results: list[ActionResult] = []
    for action in actions:
        if stop and stop.is_set():
            break
        row = claims.get((event.id, action.index))
        if row is not None and row["status"] != CLAIMED:
            continue  # settled when the batch was read: no claim to try
        result = _attempt(ws, event, action, claim_timeout)
        if result == SETTLED:
            continue
        if result == HELD:
            break  # another processor runs it: keep this event's actions in order
        assert isinstance(result, ActionResult)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _settled_prefix(
    events: list[Event],
    actions: dict[str, tuple[Action, ...]],
    claims: dict[tuple[int, int], dict[str, Any]],
    cursor: int,
) -> int:
    """The last id of the unbroken run of events after `cursor` whose actions are all settled.

    A gap in ids stops the run until it is GAP_GRACE old: the missing event may still be
    committing (PostgreSQL), or was rolled back.
    """
    now = datetime.now(UTC)
    for event in events:
        if event.id != cursor + 1 and now - event.at <= timedelta(seconds=GAP_GRACE):
            break
        if not all(
            (row := claims.get((event.id, a.index))) is not None and row["status"] != CLAIMED
            for a in actions.get(event.type, ())
        ):
            break
        cursor = event.id
    return cursor


def _attempt(
    ws: Workspace, event: Event, action: Action, claim_timeout: float
) -> ActionResult | str:
    """Claim, run and settle one action; HELD or SETTLED when it is not this one's to run."""
    me = worker_id()
    with ws.db.sql(write=True) as conn:
        attempt = _claim(conn, event.id, action.index, me, claim_timeout)
    if isinstance(attempt, str):
        return attempt
    key = {"event_id": event.id, "action": action.index, "me": me, "attempt": attempt}
    started = time.monotonic()
    try:
        with _heartbeat(ws, key, interval=claim_timeout / 5):
            outcome = run_action(action, event, ws.root)
    except BaseException:
        # interrupted: give the claim up, so that the next processor runs the action again
        # rather than waiting `claim_timeout` for a claim nobody holds
        with contextlib.suppress(MlcdError), ws.db.sql(write=True) as conn:
            conn.execute(f"DELETE FROM event_actions WHERE {_MINE}", key)
        raise  # a claim left behind is taken over later anyway: its pid will be gone
    status = DONE if outcome.error is None else FAILED
    with ws.db.sql(write=True) as conn:
        recorded = conn.execute(
            "UPDATE event_actions SET status = :status, finished_at = :now, error = :error"
            f" WHERE {_MINE} RETURNING attempts",
            {**key, "status": status, "now": datetime.now(UTC), "error": outcome.error},
        )
    return ActionResult(
        event_id=event.id,
        event_type=event.type,
        subject=event.subject,
        action=action.index,
        description=action.describe(),
        status=status,
        attempts=attempt,
        error=outcome.error,
        seconds=round(time.monotonic() - started, 3),
        recorded=bool(recorded),
        output=outcome.output,
    )


# the claim is still the one this processor made: `attempts` is a fencing token
_MINE = (
    "event_id = :event_id AND action = :action AND status = 'claimed'"
    " AND claimed_by = :me AND attempts = :attempt"
)


def _claim(
    conn: SqlConnection, event_id: int, action: int, me: str, claim_timeout: float
) -> int | str:
    """The attempt number of a new claim, or HELD / SETTLED."""
    params = {"event_id": event_id, "action": action, "me": me, "now": datetime.now(UTC)}
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""  # SQLite: BEGIN IMMEDIATE
    rows = conn.execute(
        "SELECT status, claimed_by, claimed_at FROM event_actions"
        " WHERE event_id = :event_id AND action = :action" + lock,
        params,
    )
    if not rows:
        got = conn.execute(
            "INSERT INTO event_actions (event_id, action, status, claimed_by, claimed_at,"
            " attempts) VALUES (:event_id, :action, 'claimed', :me, :now, 1)"
            " ON CONFLICT (event_id, action) DO NOTHING RETURNING attempts",
            params,
        )
    elif rows[0]["status"] != CLAIMED:
        return SETTLED
    elif _abandoned(rows[0], claim_timeout):
        got = conn.execute(
            "UPDATE event_actions SET claimed_by = :me, claimed_at = :now,"
            " attempts = attempts + 1 WHERE event_id = :event_id AND action = :action"
            " RETURNING attempts",
            params,
        )
    else:
        return HELD
    return int(got[0]["attempts"]) if got else HELD


def _abandoned(row: dict[str, Any], claim_timeout: float) -> bool:
    """Whether a claim's holder is gone: a dead local pid, or no heartbeat for too long."""
    host, _, pid = str(row["claimed_by"]).rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return True
    claimed_at = parse_datetime(row["claimed_at"])
    assert claimed_at is not None
    return datetime.now(UTC) - claimed_at > timedelta(seconds=claim_timeout)


def _alive(pid: int) -> bool:
    if os.name == "nt":  # signal 0 would be CTRL_C_EVENT there: rely on the timeout
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextmanager
def _heartbeat(ws: Workspace, key: dict[str, Any], interval: float) -> Iterator[None]:
    """Refresh the claim every `interval` seconds while an action runs, so that a long action
    (a pipeline run) is never mistaken for one whose processor died."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval):
            try:
                with ws.db.sql(write=True) as conn:
                    conn.execute(
                        f"UPDATE event_actions SET claimed_at = :now WHERE {_MINE}",
                        {**key, "now": datetime.now(UTC)},
                    )
            except MlcdError:
                pass  # a DB hiccup: the next beat retries; a long outage lets the claim age

    thread = threading.Thread(target=beat, name="mlcd-claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _claims(conn: SqlConnection, first: int, last: int) -> dict[tuple[int, int], dict[str, Any]]:
    rows = conn.execute(
        "SELECT event_id, action, status FROM event_actions"
        " WHERE event_id >= :first AND event_id <= :last",
        {"first": first, "last": last},
    )
    return {(int(r["event_id"]), int(r["action"])): r for r in rows}


def _read_cursor(conn: SqlConnection, consumer: str) -> int:
    rows = conn.execute(
        "SELECT last_event_id FROM event_cursors WHERE consumer = :consumer",
        {"consumer": consumer},
    )
    return int(rows[0]["last_event_id"]) if rows else 0


def _save_cursor(conn: SqlConnection, consumer: str, last_event_id: int) -> None:
    """Move the cursor forward, never back: another processor may have moved it further."""
    params = {"consumer": consumer, "id": last_event_id}
    conn.execute(
        "INSERT INTO event_cursors (consumer, last_event_id) VALUES (:consumer, 0)"
        " ON CONFLICT (consumer) DO NOTHING",
        params,
    )
    conn.execute(
        "UPDATE event_cursors SET last_event_id = :id"
        " WHERE consumer = :consumer AND last_event_id < :id",
        params,
    )
