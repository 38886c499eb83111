"""Run records in the metadata DB: runs, their steps, and the step cache (key -> outputs).

Plain portable SQL over `Database.sql()`, so a fully cached run never imports SQLAlchemy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlcd.errors import NotFoundError
from mlcd.meta.db import SqlConnection, parse_datetime


@dataclass(frozen=True)
class StepRecord:
    """One step of one run, as recorded."""

    step: str
    key: str
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    logged: list[dict[str, Any]] = field(default_factory=list)
    stdout: str | None = None
    stderr: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True)
class Run:
    """A run: what was asked, with which params, seed, env, code and data, and how it went."""

    id: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    command: str
    targets: list[str]
    params: dict[str, Any]
    seed: int
    env: dict[str, Any]
    env_lock: str
    git: dict[str, Any] | None
    inputs: dict[str, Any]
    created_by: str
    host: str
    pid: int
    error: str | None
    steps: tuple[StepRecord, ...] = ()

    @property
    def duration(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    @property
    def metrics(self) -> dict[str, float]:
        """Every step's metrics, as `step.name`."""
        return {f"{s.step}.{k}": v for s in self.steps for k, v in s.metrics.items()}

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "steps"}
        data.update(
            started_at=_iso(self.started_at),
            ended_at=_iso(self.ended_at),
            duration=self.duration,
            steps=[s.to_dict() for s in self.steps],
        )
        return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def create_run(conn: SqlConnection, run: Run) -> None:
    conn.execute(
        "INSERT INTO runs (id, status, started_at, ended_at, command, targets, params, seed, env,"
        " env_lock, git, inputs, created_by, host, pid, error) VALUES (:id, :status,"
        " :started_at, :ended_at, :command, :targets, :params, :seed, :env, :env_lock, :git,"
        " :inputs, :created_by, :host, :pid, :error)",
        {
            "id": run.id,
            "status": run.status,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "command": run.command,
            "targets": json.dumps(run.targets),
            "params": json.dumps(run.params, default=str),
            "seed": run.seed,
            "env": json.dumps(run.env),
            "env_lock": run.env_lock,
            "git": json.dumps(run.git) if run.git is not None else None,
            "inputs": json.dumps(run.inputs),
            "created_by": run.created_by,
            "host": run.host,
            "pid": run.pid,
            "error": run.error,
        },
    )


def add_inputs(conn: SqlConnection, run_id: str, pinned: dict[str, dict[str, Any]]) -> None:
    """Index the dataset versions a run pinned, so `mlcd data used-by` can find it."""
    conn.executemany(
        "INSERT INTO run_inputs (run_id, dataset, version, content_id)"
        " VALUES (:run_id, :dataset, :version, :content_id)",
        [
            {
                "run_id": run_id,
                "dataset": p["ref"].split("@")[0],
                "version": int(p["ref"].split("@")[1]),
                "content_id": p["content_id"],
            }
            for p in pinned.values()
        ],
    )


def finish_run(conn: SqlConnection, run_id: str, status: str, error: str | None) -> None:
    conn.execute(
        "UPDATE runs SET status = :status, ended_at = :ended_at, error = :error WHERE id = :id",
        {"status": status, "ended_at": datetime.now(UTC), "error": error, "id": run_id},
    )


def add_step(conn: SqlConnection, run_id: str, rec: StepRecord) -> None:
    conn.execute(
        "INSERT INTO run_steps (run_id, step, key, status, started_at, ended_at, duration,"
        " outputs, metrics, logged, stdout, stderr, error) VALUES (:run_id, :step, :key,"
        " :status, :started_at, :ended_at, :duration, :outputs, :metrics, :logged, :stdout,"
        " :stderr, :error)",
        {
            "run_id": run_id,
            "step": rec.step,
            "key": rec.key,
            "status": rec.status,
            "started_at": rec.started_at,
            "ended_at": rec.ended_at,
            "duration": rec.duration,
            "outputs": json.dumps(rec.outputs),
            "metrics": json.dumps(rec.metrics),
            "logged": json.dumps(rec.logged, default=str),
            "stdout": rec.stdout,
            "stderr": rec.stderr,
            "error": rec.error,
        },
    )


def cache_get(conn: SqlConnection, key: str) -> tuple[dict[str, Any], dict[str, float]] | None:
    rows = conn.execute("SELECT outputs, metrics FROM step_cache WHERE key = :key", {"key": key})
    return (json.loads(rows[0]["outputs"]), json.loads(rows[0]["metrics"])) if rows else None


def cache_put(
    conn: SqlConnection,
    key: str,
    step: str,
    outputs: dict[str, Any],
    metrics: dict[str, float],
    run_id: str,
) -> None:
    # an upsert, not DELETE + INSERT: two runs caching the same step at once on PostgreSQL
    # would both find nothing to delete, and the second insert would violate the key
    conn.execute(
        "INSERT INTO step_cache (key, step, outputs, metrics, run_id, created_at)"
        " VALUES (:key, :step, :outputs, :metrics, :run_id, :created_at)"
        " ON CONFLICT (key) DO UPDATE SET step = excluded.step, outputs = excluded.outputs,"
        " metrics = excluded.metrics, run_id = excluded.run_id, created_at = excluded.created_at",
        {
            "key": key,
            "step": step,
            "outputs": json.dumps(outputs),
            "metrics": json.dumps(metrics),
            "run_id": run_id,
            "created_at": datetime.now(UTC),
        },
    )


_NEWEST = "ORDER BY started_at DESC, id DESC"


def resolve_run_id(conn: SqlConnection, text: str) -> str:
    """A run id from an id, a unique prefix of one, or `latest`."""
    if text in ("latest", "last"):
        rows = conn.execute(f"SELECT id FROM runs {_NEWEST} LIMIT 1")
        if not rows:
            raise NotFoundError("there are no runs yet", hint="start one with `mlcd run`")
        return str(rows[0]["id"])
    text = text.lower()  # ids are lower case; LIKE ignores case on SQLite only
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    ids = [
        r["id"]
        for r in conn.execute(
            "SELECT id FROM runs WHERE id LIKE :prefix ESCAPE '\\' ORDER BY id LIMIT 3",
            {"prefix": escaped + "%"},
        )
    ]
    if not ids:
        raise NotFoundError(f"run {text!r} does not exist", hint="see `mlcd runs list`")
    if text in ids:
        return text
    if len(ids) > 1:
        raise NotFoundError(
            f"run id prefix {text!r} is ambiguous ({', '.join(ids[:2])}, ...)",
            hint="give more characters of the run id",
        )
    return str(ids[0])


def get_run(conn: SqlConnection, text: str) -> Run:
    run_id = resolve_run_id(conn, text)
    row = conn.execute("SELECT * FROM runs WHERE id = :id", {"id": run_id})[0]
    steps = conn.execute("SELECT * FROM run_steps WHERE run_id = :id ORDER BY id", {"id": run_id})
    return _run(row, tuple(_step(r) for r in steps))


def list_runs(conn: SqlConnection, limit: int = 50) -> list[Run]:
    rows = conn.execute(f"SELECT * FROM runs {_NEWEST} LIMIT :limit", {"limit": limit})
    if not rows:
        return []
    steps: dict[str, list[StepRecord]] = {}
    placeholders = ", ".join(f":r{i}" for i in range(len(rows)))
    for r in conn.execute(
        f"SELECT * FROM run_steps WHERE run_id IN ({placeholders}) ORDER BY id",
        {f"r{i}": row["id"] for i, row in enumerate(rows)},
    ):
        steps.setdefault(r["run_id"], []).append(_step(r))
    return [_run(row, tuple(steps.get(row["id"], []))) for row in rows]


def _run(row: dict[str, Any], steps: tuple[StepRecord, ...]) -> Run:
    started = parse_datetime(row["started_at"])
    assert started is not None
    return Run(
        id=row["id"],
        status=row["status"],
        started_at=started,
        ended_at=parse_datetime(row["ended_at"]),
        command=row["command"],
        targets=json.loads(row["targets"]),
        params=json.loads(row["params"]),
        seed=row["seed"],
        env=json.loads(row["env"]),
        env_lock=row["env_lock"],
        git=json.loads(row["git"]) if row["git"] else None,
        inputs=json.loads(row["inputs"]),
        created_by=row["created_by"],
        host=row["host"],
        pid=row["pid"],
        error=row["error"],
        steps=steps,
    )


def _step(r: dict[str, Any]) -> StepRecord:
    return StepRecord(
        step=r["step"],
        key=r["key"],
        status=r["status"],
        started_at=parse_datetime(r["started_at"]),
        ended_at=parse_datetime(r["ended_at"]),
        duration=r["duration"],
        outputs=json.loads(r["outputs"]),
        metrics=json.loads(r["metrics"]),
        logged=json.loads(r["logged"]),
        stdout=r["stdout"],
        stderr=r["stderr"],
        error=r["error"],
    )
