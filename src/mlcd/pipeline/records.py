"""Run records in the metadata DB: runs, their steps, and the step cache (key -> outputs)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlcd.errors import NotFoundError
from mlcd.meta.tables import run_steps, runs, step_cache


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


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def create_run(conn: Connection, run: Run) -> None:
    conn.execute(
        sa.insert(runs).values(
            id=run.id,
            status=run.status,
            started_at=run.started_at,
            ended_at=run.ended_at,
            command=run.command,
            targets=json.dumps(run.targets),
            params=json.dumps(run.params, default=str),
            seed=run.seed,
            env=json.dumps(run.env),
            env_lock=run.env_lock,
            git=json.dumps(run.git) if run.git is not None else None,
            inputs=json.dumps(run.inputs),
            created_by=run.created_by,
            host=run.host,
            pid=run.pid,
            error=run.error,
        )
    )


def finish_run(conn: Connection, run_id: str, status: str, error: str | None) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, ended_at=datetime.now(UTC), error=error)
    )


def add_step(conn: Connection, run_id: str, rec: StepRecord) -> None:
    conn.execute(
        sa.insert(run_steps).values(
            run_id=run_id,
            step=rec.step,
            key=rec.key,
            status=rec.status,
            started_at=rec.started_at,
            ended_at=rec.ended_at,
            duration=rec.duration,
            outputs=json.dumps(rec.outputs),
            metrics=json.dumps(rec.metrics),
            logged=json.dumps(rec.logged, default=str),
            stdout=rec.stdout,
            stderr=rec.stderr,
            error=rec.error,
        )
    )


def cache_get(conn: Connection, key: str) -> tuple[dict[str, Any], dict[str, float]] | None:
    row = conn.execute(sa.select(step_cache).where(step_cache.c.key == key)).first()
    return None if row is None else (json.loads(row.outputs), json.loads(row.metrics))


def cache_put(
    conn: Connection,
    key: str,
    step: str,
    outputs: dict[str, Any],
    metrics: dict[str, float],
    run_id: str,
) -> None:
    conn.execute(sa.delete(step_cache).where(step_cache.c.key == key))
    conn.execute(
        sa.insert(step_cache).values(
            key=key,
            step=step,
            outputs=json.dumps(outputs),
            metrics=json.dumps(metrics),
            run_id=run_id,
            created_at=datetime.now(UTC),
        )
    )


def resolve_run_id(conn: Connection, text: str) -> str:
    """A run id from an id, a unique prefix of one, or `latest`."""
    if text in ("latest", "last"):
        found = conn.execute(
            sa.select(runs.c.id).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
        ).scalar()
        if found is None:
            raise NotFoundError("there are no runs yet", hint="start one with `mlcd run`")
        return str(found)
    ids = (
        conn.execute(
            sa.select(runs.c.id).where(runs.c.id.startswith(text, autoescape=True)).limit(3)
        )
        .scalars()
        .all()
    )
    if not ids:
        raise NotFoundError(f"run {text!r} does not exist", hint="see `mlcd runs list`")
    if len(ids) > 1 and text not in ids:
        raise NotFoundError(
            f"run id prefix {text!r} is ambiguous ({', '.join(ids[:2])}, ...)",
            hint="give more characters of the run id",
        )
    return text if text in ids else str(ids[0])


def get_run(conn: Connection, text: str) -> Run:
    run_id = resolve_run_id(conn, text)
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    step_rows = conn.execute(
        sa.select(run_steps).where(run_steps.c.run_id == run_id).order_by(run_steps.c.id)
    )
    return _run(row, tuple(_step(r) for r in step_rows))


def list_runs(conn: Connection, limit: int = 50) -> list[Run]:
    rows = conn.execute(
        sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    ).all()
    if not rows:
        return []
    steps: dict[str, list[StepRecord]] = {}
    for r in conn.execute(
        sa.select(run_steps)
        .where(run_steps.c.run_id.in_([row.id for row in rows]))
        .order_by(run_steps.c.id)
    ):
        steps.setdefault(r.run_id, []).append(_step(r))
    return [_run(row, tuple(steps.get(row.id, []))) for row in rows]


def _run(row: Any, steps: tuple[StepRecord, ...]) -> Run:
    started = _utc(row.started_at)
    assert started is not None
    return Run(
        id=row.id,
        status=row.status,
        started_at=started,
        ended_at=_utc(row.ended_at),
        command=row.command,
        targets=json.loads(row.targets),
        params=json.loads(row.params),
        seed=row.seed,
        env=json.loads(row.env),
        env_lock=row.env_lock,
        git=json.loads(row.git) if row.git else None,
        inputs=json.loads(row.inputs),
        created_by=row.created_by,
        host=row.host,
        pid=row.pid,
        error=row.error,
        steps=steps,
    )


def _step(r: Any) -> StepRecord:
    return StepRecord(
        step=r.step,
        key=r.key,
        status=r.status,
        started_at=_utc(r.started_at),
        ended_at=_utc(r.ended_at),
        duration=r.duration,
        outputs=json.loads(r.outputs),
        metrics=json.loads(r.metrics),
        logged=json.loads(r.logged),
        stdout=r.stdout,
        stderr=r.stderr,
        error=r.error,
    )
