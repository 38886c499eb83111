"""Both DB lanes (stdlib sqlite3 and SQLAlchemy) run the same SQL and read each other's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcd.meta import Database
from mlcd.pipeline import records
from mlcd.workspace import Workspace


def force_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Database, "_sqlite_at_head", lambda self: False)


@pytest.mark.parametrize("writer", ["sqlite3", "sqlalchemy"])
@pytest.mark.parametrize("reader", ["sqlite3", "sqlalchemy"])
def test_versions_written_by_one_lane_read_by_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str
) -> None:
    with monkeypatch.context() as m:
        if writer == "sqlalchemy":
            force_sqlalchemy(m)
        ws = Workspace.init(tmp_path / "ws")
        ws.snapshot("frame", pd.DataFrame({"a": [1, 2, 3]}), message="m1")
        ws.snapshot("frame", pd.DataFrame({"a": [4]}), append=True)
        ws.close()
    with monkeypatch.context() as m:
        if reader == "sqlalchemy":
            force_sqlalchemy(m)
        ws = Workspace(tmp_path / "ws")
        v = ws.version("frame@1", with_files=True)
        assert (v.rows, v.message, v.created_at.tzinfo) == (3, "m1", UTC)
        assert abs((datetime.now(UTC) - v.created_at).total_seconds()) < 60
        assert [x.number for x in ws.log("frame")] == [2, 1]
        assert [d.ref for d in ws.datasets()] == ["frame@2"]
        assert sorted(ws.load("frame@2").to_pandas()["a"]) == [1, 2, 3, 4]
        ws.close()


@pytest.mark.parametrize("lane", ["sqlite3", "sqlalchemy"])
def test_run_records_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lane: str) -> None:
    if lane == "sqlalchemy":
        force_sqlalchemy(monkeypatch)
    ws = Workspace.init(tmp_path / "ws")
    started = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    run = records.Run(
        id="20260102-030405-abcd",
        status="running",
        started_at=started,
        ended_at=None,
        command="mlcd run",
        targets=[],
        params={"a": 1},
        seed=3,
        env={},
        env_lock="b3:x",
        git=None,
        inputs={},
        created_by="me",
        host="h",
        pid=1,
        error=None,
    )
    with ws.db.sql(write=True) as conn:
        records.create_run(conn, run)
        records.add_step(conn, run.id, records.StepRecord("s", "b3:k", "succeeded", duration=1.5))
        records.cache_put(conn, "b3:k", "s", {"o": {"blob": "b3:y"}}, {"m": 0.5}, run.id)
        records.finish_run(conn, run.id, "succeeded", None)
    with ws.db.sql() as conn:
        got = records.get_run(conn, "20260102")
        assert got.started_at == started and got.status == "succeeded" and got.ended_at
        assert got.steps[0].duration == 1.5 and got.params == {"a": 1}
        assert records.cache_get(conn, "b3:k") == ({"o": {"blob": "b3:y"}}, {"m": 0.5})
        assert records.resolve_run_id(conn, "latest") == run.id
