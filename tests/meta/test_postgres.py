"""The metadata DB on a real PostgreSQL (tests/postgres.py): migrations from an empty database,
every kind of record end to end, concurrent writers, and what differs from SQLite.

The server runs in a time zone far from UTC (Asia/Kathmandu, +05:45), as a team's may.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from mlcd.checks.spec import parse_checks
from mlcd.errors import InvalidNameError, MetadataError
from mlcd.events.log import ALIAS_MOVED, DATASET_SNAPSHOT, MODEL_REGISTERED, RUN_FINISHED
from mlcd.meta import Database, known_revisions
from mlcd.meta.db import SqlConnection, _upgrade
from mlcd.meta.tables import metadata
from mlcd.pipeline import records
from mlcd.workspace import Workspace
from tests.conftest import write_partitions
from tests.postgres import PostgresServer, init_workspace

pytestmark = pytest.mark.slow  # a real server


@pytest.fixture
def db_backend() -> str:
    """Every `ws` of this module is on PostgreSQL."""
    return "postgresql"


def recent(moment: datetime) -> bool:
    """An aware UTC datetime of the last minute, as every backend must give back."""
    return moment.tzinfo is UTC and abs((datetime.now(UTC) - moment).total_seconds()) < 60


def configure(ws: Workspace, **sections: Any) -> Workspace:
    """Set sections of mlcd.yaml (`steps`, `on`, ...) and reopen the workspace."""
    path = ws.root / "mlcd.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(sections)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    ws.close()
    return Workspace(ws.root)


@pytest.fixture
def model() -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "items": [1, 0, 1, 0, 1, 0]})
    return LogisticRegression().fit(x, [0, 0, 0, 1, 1, 1]), x


# -- the schema -------------------------------------------------------------------------------


def test_the_server_is_not_in_utc(postgres_url: str) -> None:
    """What makes the time zone tests below mean something."""
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "Asia/Kathmandu"
    engine.dispose()


def test_migrations_build_the_declared_schema_from_an_empty_database(postgres_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(postgres_url)
    assert db.revision() is None
    db.migrate()
    assert db.revision() == known_revisions()[-1]
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.close()


def test_an_older_database_upgrades_itself_and_keeps_its_data(postgres_url: str) -> None:
    old = Database(postgres_url)
    with old.engine.begin() as conn:
        _upgrade(conn, "0001")
        conn.exec_driver_sql(
            "INSERT INTO datasets (name, created_at) VALUES ('kept', '2024-01-01 00:00:00+00')"
        )
    old.close()
    db = Database(postgres_url)
    assert db.revision() == "0001"
    db.migrate()
    assert db.revision() == known_revisions()[-1]
    with db.sql() as conn:
        (row,) = conn.execute("SELECT name, created_at FROM datasets")
    assert row["name"] == "kept"
    assert row["created_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert len(db.id) == 32  # given by migration 0006
    db.close()


def _migrate(url: str) -> str | None:
    db = Database(url)
    db.migrate()
    revision = db.revision()
    db.close()
    return revision


def test_processes_migrating_one_empty_database_at_once_all_succeed(postgres_url: str) -> None:
    """The advisory lock: one migrates, the others find the schema at its newest revision."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_migrate, [postgres_url] * 4)
    assert revisions == [known_revisions()[-1]] * 4


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_url_without_a_driver_uses_psycopg_3(
    postgres_server: PostgresServer, scheme: str
) -> None:
    """`postgresql://` means psycopg2 to SQLAlchemy 2.0, which the `postgres` extra does not
    install, and SQLAlchemy refuses `postgres://` (the form many hosting services hand out)."""
    name = postgres_server.create_database()
    try:
        url = postgres_server.url(name).replace("postgresql+psycopg://", f"{scheme}://")
        db = Database(url)
        db.migrate()
        assert db.engine.dialect.driver == "psycopg"
        assert db.revision() == known_revisions()[-1]
        db.close()
    finally:
        postgres_server.drop_database(name)


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Database(f"postgresql+psycopg://me:s3cret@127.0.0.1:{port}/nowhere")
    with pytest.raises(MetadataError) as exc:
        db.migrate()
    assert "s3cret" not in str(exc.value) and "***" in str(exc.value)
    assert str(port) in str(exc.value) and "reachable" in (exc.value.hint or "")


# -- datasets -----------------------------------------------------------------------------------


def test_snapshots_append_diff_and_log(ws: Workspace) -> None:
    assert ws.db.engine.dialect.name == "postgresql" and ws.db.sqlite_path is None
    assert not (ws.state / "mlcd.db").exists()
    sales = write_partitions(ws.root / "data" / "sales", ["2024-01-01", "2024-01-02"])
    first = ws.snapshot("sales", sales, message="two days")
    again = ws.snapshot("sales", sales)
    assert first.created and not again.created and again.version.ref == "sales@1"
    write_partitions(sales, ["2024-01-03"], seed=3)
    second = ws.snapshot("sales", sales)
    assert second.created and second.files_ingested == 1 and second.version.ref == "sales@2"
    incoming = write_partitions(ws.root / "incoming", ["2024-01-04"], seed=4)
    third = ws.snapshot("sales", incoming / "date=2024-01-04", append=True)
    assert third.created and third.version.ref == "sales@3" and third.version.rows == 400

    log = ws.log("sales")
    assert [(v.number, v.parent, v.rows) for v in log] == [(3, 2, 400), (2, 1, 300), (1, None, 200)]
    assert log[-1].message == "two days" and all(recent(v.created_at) for v in log)
    assert [d.ref for d in ws.datasets()] == ["sales@3"]
    diff = ws.diff("sales@1", "sales@3")
    assert diff.files_added == ["date=2024-01-03/part-0.parquet", "date=2024-01-04/part-0.parquet"]
    assert (diff.files_removed, diff.rows_a, diff.rows_b) == ([], 200, 400)
    assert ws.diff("sales@2").files_added == ["date=2024-01-03/part-0.parquet"]
    v3 = ws.version("sales@3", with_files=True)
    assert len(v3.files) == 4 and v3.content_id == third.version.content_id
    assert len(ws.load("sales@latest").to_pandas()) == 400
    with ws.db.sql() as conn:
        events = conn.execute("SELECT type, subject FROM events ORDER BY id")
    assert [(e["type"], e["subject"]) for e in events] == [
        (DATASET_SNAPSHOT, "sales@1"),
        (DATASET_SNAPSHOT, "sales@2"),
        (DATASET_SNAPSHOT, "sales@3"),
    ]


def _snapshot(root: str, index: int) -> int:
    with Workspace(root) as ws:
        frame = pd.DataFrame({"writer": [index] * 10, "value": range(10)})
        return ws.snapshot("shared", frame, message=f"writer {index}").version.number


def test_concurrent_writers_get_distinct_gapless_versions(ws: Workspace) -> None:
    """Four processes snapshot one new dataset at once: the dataset row lock (FOR UPDATE)
    hands out 1..4, each version on top of the one before."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        numbers = pool.starmap(_snapshot, [(str(ws.root), i) for i in range(4)])
    assert sorted(numbers) == [1, 2, 3, 4]
    log = ws.log("shared")
    assert [v.number for v in log] == [4, 3, 2, 1]
    assert [v.parent for v in log] == [3, 2, 1, None]
    assert sorted(v.message for v in log) == [f"writer {i}" for i in range(4)]
    with ws.db.sql() as conn:
        (row,) = conn.execute("SELECT count(*) AS n FROM datasets")
    assert row["n"] == 1


# -- pipeline runs ------------------------------------------------------------------------------


def test_a_pipeline_run_is_recorded_listed_and_cached(ws: Workspace) -> None:
    sales = write_partitions(ws.root / "data" / "sales", ["2024-01-01"])
    ws.snapshot("sales", sales)
    (ws.root / "params.yaml").write_text("count: {n: 3}\n")
    ws = configure(
        ws,
        steps={
            "count": {
                "run": "python -c \"import json; json.dump({'rows': 100}, open('m.json', 'w'))\"",
                "inputs": ["datasets.sales@latest"],
                "params": ["count"],
                "outputs": {"m": "m.json"},
                "metrics": "m.json",
            }
        },
    )
    first = ws.run()
    assert first.status == "succeeded", [s.error for s in first.steps]
    second = ws.run()
    assert [s.status for s in second.steps] == ["cached"]
    runs = ws.runs()
    assert [r.id for r in runs] == [second.run_id, first.run_id]
    prefix = next(first.run_id[:n] for n in range(16, 21) if second.run_id[:n] != first.run_id[:n])
    run = ws.get_run(prefix)  # a unique prefix: LIKE, with its escapes
    assert (run.id, run.status, run.params) == (first.run_id, "succeeded", {"count": {"n": 3}})
    assert recent(run.started_at) and run.ended_at is not None and recent(run.ended_at)
    assert [i["ref"] for i in run.inputs.values()] == ["sales@1"]
    (step,) = run.steps
    assert (step.step, step.status, step.metrics) == ("count", "succeeded", {"rows": 100.0})
    assert ws.get_run("latest").id == second.run_id
    assert [r["run"] for r in ws.used_by("sales@1")["runs"]] == [first.run_id, second.run_id]
    ws.close()


def test_two_runs_caching_one_step_at_once_both_succeed(ws: Workspace) -> None:
    """Regression: the step cache was written as DELETE + INSERT; on PostgreSQL the second of
    two concurrent writers found nothing to delete and then violated the primary key."""
    other = Database(ws.config.metadata)

    def cache(conn: SqlConnection, run_id: str) -> None:
        records.cache_put(conn, "b3:k", "s", {"o": {"blob": f"b3:{run_id}"}}, {}, run_id)

    def second() -> None:
        with other.sql(write=True) as conn:
            cache(conn, "second")

    try:
        race(ws.db, lambda conn: cache(conn, "first"), second)
    finally:
        other.close()
    with ws.db.sql() as conn:
        assert records.cache_get(conn, "b3:k") == ({"o": {"blob": "b3:second"}}, {})


def race(db: Database, first: Callable[[SqlConnection], None], second: Callable[[], None]) -> None:
    """`first` writes in a transaction of `db` that stays open until `second`, in a thread,
    waits on a lock; then it commits, and `second` must complete without an error."""
    failures: list[BaseException] = []

    def later() -> None:
        try:
            second()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=later)
    with db.sql(write=True) as conn:
        first(conn)
        thread.start()
        _wait_for_a_lock_wait(db)
    thread.join(timeout=30)
    assert not thread.is_alive() and failures == []


def _wait_for_a_lock_wait(db: Database) -> None:
    deadline = time.monotonic() + 10
    with db.engine.connect() as conn:
        while True:
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar()
            if waiting or time.monotonic() > deadline:
                return
            conn.rollback()
            time.sleep(0.02)


def test_a_step_that_prints_a_nul_byte_is_still_recorded(ws: Workspace) -> None:
    """Regression: PostgreSQL refuses NUL in text, and a step's error is its last stderr line."""
    ws = configure(
        ws,
        steps={"bad": {"run": "printf 'bad\\000byte\\n' >&2; exit 3", "outputs": {"o": "o.txt"}}},
    )
    result = ws.run()
    assert result.status == "failed"
    (step,) = ws.get_run(result.run_id).steps
    assert step.status == "failed" and step.error is not None
    assert "bad\ufffdbyte" in step.error and "\x00" not in step.error
    ws.close()


# -- the model registry -------------------------------------------------------------------------


def test_models_versions_aliases_history_and_lineage(
    ws: Workspace, model: tuple[Any, pd.DataFrame]
) -> None:
    estimator, x = model
    ws.snapshot("train", x)
    one = ws.register_model("churn", estimator, example=x, datasets={"train@1": "train"})
    two = ws.register_model("churn", estimator, example=x, metrics={"auc": 0.8})
    assert (one.ref, two.ref) == ("churn@1", "churn@2")
    # what register returns is what is read back: times in UTC, whatever the server's zone
    assert ws.model("churn@1").to_dict() == one.to_dict()
    assert recent(ws.model("churn@2").created_at)

    ws.set_alias("churn", "production", 1, reason="first")
    ws.set_alias("churn", "production", 2, reason="better")
    ws.set_alias("churn", "staging", "production")
    assert ws.model("churn@production").number == 2
    assert ws.model("churn@2").aliases == ("production", "staging")
    ws.set_alias("churn", "staging", None)
    history = ws.alias_history("churn")
    assert [(h.alias, h.from_version, h.to_version, h.reason) for h in history] == [
        ("staging", 2, None, None),
        ("staging", None, 2, None),
        ("production", 1, 2, "better"),
        ("production", None, 1, "first"),
    ]
    assert all(recent(h.at) for h in history)
    (summary,) = ws.models()
    assert (summary.latest, summary.versions, summary.aliases) == (2, 2, {"production": 2})
    assert summary.updated_at is not None and recent(summary.updated_at)

    tree = ws.lineage("churn@1")
    (data,) = tree["datasets"]
    assert (data["dataset"], data["role"], data["rows"]) == ("train@1", "train", 6)
    used = ws.used_by("train@1")
    assert used["models"] == [{"ref": "churn@1", "role": "train", "run": None}]
    assert [v.number for v in ws.model_versions("churn")] == [2, 1]
    loaded = ws.load_model("churn@production")
    assert list(loaded.predict(x)) == list(estimator.predict(x))


def test_a_role_longer_than_its_column_is_refused_before_anything_is_stored(
    ws: Workspace, model: tuple[Any, pd.DataFrame]
) -> None:
    """Regression: PostgreSQL enforces VARCHAR(32), so a long role failed inside the insert."""
    estimator, x = model
    ws.snapshot("train", x)
    with pytest.raises(InvalidNameError, match="role"):
        ws.register_model("churn", estimator, datasets={"train@1": "r" * 33})
    assert ws.models() == []
    ws.register_model("churn", estimator, datasets={"train@1": "r" * 32})
    assert ws.model("churn@1").datasets[0].role == "r" * 32


def test_a_long_ci_user_name_is_clipped_to_its_column(
    ws: Workspace, model: tuple[Any, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_USER_LOGIN", "u" * 300)
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)  # it comes first
    estimator, x = model
    version = ws.snapshot("train", x).version
    assert version.created_by == ("ci:" + "u" * 300)[:128]
    assert ws.register_model("churn", estimator).created_by == version.created_by
    ws.set_alias("churn", "production", 1)
    assert ws.alias_history("churn")[0].by == version.created_by


# -- events and checks --------------------------------------------------------------------------


def test_events_are_emitted_and_processed_once(
    ws: Workspace, model: tuple[Any, pd.DataFrame]
) -> None:
    estimator, x = model
    ws = configure(
        ws,
        on={
            DATASET_SNAPSHOT: "echo {subject} >> fired.txt",
            MODEL_REGISTERED: "echo {subject} >> fired.txt",
            ALIAS_MOVED: ["echo {subject} {version} >> fired.txt", "exit 4"],
            RUN_FINISHED: "printf 'x\\000y'; exit 5",
        },
        steps={"hello": {"run": "echo hi > hi.txt", "outputs": {"hi": "hi.txt"}}},
    )
    ws.snapshot("train", x)
    ws.register_model("churn", estimator)
    ws.set_alias("churn", "production", 1)
    run = ws.run()
    assert [(e.id, e.type) for e in ws.events()] == [
        (1, DATASET_SNAPSHOT),
        (2, MODEL_REGISTERED),
        (3, ALIAS_MOVED),
        (4, RUN_FINISHED),
    ]
    assert ws.events(after=2, type_=ALIAS_MOVED)[0].payload["alias"] == "production"
    assert all(recent(e.at) for e in ws.events())

    results = ws.process_events()
    assert [(r.event_id, r.action, r.status) for r in results] == [
        (1, 0, "done"),
        (2, 0, "done"),
        (3, 0, "done"),
        (3, 1, "failed"),
        (4, 0, "failed"),
    ]
    assert all(r.recorded for r in results)
    assert (ws.root / "fired.txt").read_text().split("\n") == [
        "train@1",
        "churn@1",
        "churn@production 1",
        "",
    ]
    assert ws.process_events() == []
    with ws.db.sql() as conn:
        claims = conn.execute("SELECT event_id, status, error FROM event_actions ORDER BY 1, 2")
        (cursor,) = conn.execute("SELECT last_event_id FROM event_cursors")
    assert [c["status"] for c in claims] == ["done", "done", "done", "failed", "failed"]
    # the NUL the last action printed is in its recorded error, as U+FFFD
    assert "x\ufffdy" in claims[-1]["error"] and cursor["last_event_id"] == 4
    assert run.status == "succeeded"
    ws.close()


def test_check_results_and_profiles_are_recorded(ws: Workspace) -> None:
    ws.snapshot("frame", pd.DataFrame({"a": [1.0, 2.0, 3.0, 40.0]}))
    checks = parse_checks([{"column": "a", "min": 0, "max": 10}], "checks")
    results = ws.check_data("frame@1", checks)
    assert [r.passed for r in results] == [True, False]
    stats = ws.profile("frame@1")
    assert stats["a"].max == 40.0
    assert ws.profile("frame@1")["a"].max == 40.0  # read back from the stored profile
    with ws.db.sql() as conn:
        (row,) = conn.execute("SELECT subject, kind, passed, at FROM check_runs")
        profiles = conn.execute("SELECT content_id FROM profiles")
    assert (row["subject"], row["kind"], row["passed"]) == ("frame@1", "data", 0)
    assert [p["content_id"] for p in profiles] == [ws.version("frame@1").content_id]


def test_two_processes_storing_one_profile_at_once_both_succeed(ws: Workspace) -> None:
    """Regression: profiles were stored as DELETE + INSERT, which races on PostgreSQL."""
    from mlcd.checks.profile import store_profile

    ws.snapshot("frame", pd.DataFrame({"a": [1.0, 2.0]}))
    stats = ws.profile("frame@1")
    cid = ws.version("frame@1").content_id
    with ws.db.sql(write=True) as conn:
        conn.execute("DELETE FROM profiles")

    def first(conn: SqlConnection) -> None:  # another process, storing the same profile
        conn.execute(
            "INSERT INTO profiles (content_id, blob, created_at) VALUES (:c, 'b3:x', :at)",
            {"c": cid, "at": datetime.now(UTC)},
        )

    with Workspace(ws.root) as other:
        race(ws.db, first, lambda: store_profile(other, cid, stats))
    with ws.db.sql() as conn:
        (row,) = conn.execute("SELECT blob FROM profiles")
    assert row["blob"] != "b3:x"
    assert ws.profile("frame@1")["a"].max == 2.0


# -- the workspace helper ---------------------------------------------------------------------


def test_init_workspace_points_mlcd_yaml_at_the_database(tmp_path: Path, postgres_url: str) -> None:
    with init_workspace(tmp_path / "ws", postgres_url) as ws:
        assert ws.config.metadata == postgres_url
        assert ws.db.revision() == known_revisions()[-1]
