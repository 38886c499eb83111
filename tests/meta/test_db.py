"""The metadata DB: migrations create and upgrade the schema; writers never share a number."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from mlcd.errors import MetadataError
from mlcd.meta import Database, known_revisions
from mlcd.meta.db import MIGRATIONS, _upgrade
from mlcd.meta.tables import metadata
from mlcd.workspace import Workspace


def test_fresh_db_is_migrated_to_head(tmp_path: Path) -> None:
    db = Database("sqlite:///meta.db", base=tmp_path)
    db.migrate()
    assert db.revision() == known_revisions()[-1]
    assert (tmp_path / "meta.db").exists()
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_each_db_has_its_own_lasting_id(tmp_path: Path) -> None:
    """What a shared store's marks name (mlcd.store.marks): made once, kept across opens."""
    first = Database("sqlite:///one.db", base=tmp_path).id
    assert len(first) == 32 and int(first, 16) >= 0
    assert Database("sqlite:///one.db", base=tmp_path).id == first
    assert Database("sqlite:///two.db", base=tmp_path).id != first


def test_revision_ids_match_alembic_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_current_head() == known_revisions()[-1]
    assert sorted(s.revision for s in script.walk_revisions()) == known_revisions()


def test_migrations_produce_exactly_the_declared_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database("sqlite:///meta.db", base=tmp_path)
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_an_older_db_upgrades_itself_and_keeps_its_data(tmp_path: Path) -> None:
    old = Database("sqlite:///meta.db", base=tmp_path)
    with old.engine.begin() as conn:  # a DB made by the first release: revision 0001 only
        _upgrade(conn, "0001")
        conn.exec_driver_sql(
            "INSERT INTO datasets (name, created_at) VALUES ('kept', '2024-01-01 00:00:00')"
        )
    old.close()
    assert Database("sqlite:///meta.db", base=tmp_path).revision() == "0001"
    db = Database("sqlite:///meta.db", base=tmp_path)
    db.migrate()
    assert db.revision() == known_revisions()[-1] != "0001"
    with db.read() as conn:
        assert sa.inspect(conn).has_table("runs")
        assert conn.exec_driver_sql("SELECT name FROM datasets").scalar() == "kept"


def test_a_newer_db_is_refused_with_a_hint(tmp_path: Path) -> None:
    db = Database("sqlite:///meta.db", base=tmp_path)
    db.migrate()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(MetadataError, match="9999") as exc:
        Database("sqlite:///meta.db", base=tmp_path).migrate()
    assert "upgrade mlcd" in (exc.value.hint or "")


def test_bad_metadata_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="cannot use metadata URL"):
        Database("nosuchdialect://x", base=tmp_path).migrate()


def _snapshot_in_process(root: str, index: int) -> int:
    ws = Workspace(root)
    frame = pd.DataFrame({"writer": [index] * 10, "value": range(10)})
    result = ws.snapshot("shared", frame, message=f"writer {index}")
    ws.close()
    return result.version.number


@pytest.mark.slow
def test_concurrent_writers_get_distinct_gapless_versions(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        numbers = pool.starmap(_snapshot_in_process, [(str(ws.root), i) for i in range(8)])
    assert sorted(numbers) == list(range(1, 9))
    log = Workspace(ws.root).log("shared")
    assert [v.number for v in log] == list(range(8, 0, -1))
    assert sorted(v.message for v in log) == sorted(f"writer {i}" for i in range(8))
    assert all(v.parent == v.number - 1 or v.number == 1 for v in log)


def test_a_port_that_is_not_a_number_is_a_metadata_error_without_the_password() -> None:
    db = Database("postgresql+psycopg://u:secret@host:abc/db")
    with pytest.raises(MetadataError, match="cannot use metadata URL") as caught:
        db.engine  # noqa: B018 - creating it is what fails
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("content", [b"garbage\n", bytes(range(256)) * 20])
def test_a_file_that_is_not_sqlite_is_a_metadata_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "meta.db").write_bytes(content)
    db = Database("sqlite:///meta.db", base=tmp_path)
    with pytest.raises(MetadataError, match=r"meta\.db is not a usable SQLite database") as info:
        db.migrate()
    assert "move it away" in (info.value.hint or "")


def test_the_fast_lane_reports_a_corrupt_file_too(tmp_path: Path) -> None:
    class Corrupt:
        def execute(self, sql: str) -> None:
            raise sqlite3.DatabaseError("database disk image is malformed")

    db = Database("sqlite:///meta.db", base=tmp_path)
    db.migrate()
    db.__dict__["_sqlite"] = Corrupt()
    with pytest.raises(MetadataError, match=r"meta\.db is not a usable SQLite database"):
        db.sql().__enter__()


@pytest.mark.parametrize("path", ["afile/x.db", "/proc/nope/x.db"])
def test_a_db_folder_that_cannot_be_made(tmp_path: Path, path: str) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(MetadataError, match=r"cannot make the folder of metadata DB .*x\.db"):
        Database(f"sqlite:///{path}", base=tmp_path)


def test_a_relative_db_with_options_is_under_the_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite:///.mlcd/m.db?timeout=30", base=tmp_path / "ws")
    assert db.url == f"sqlite:///{tmp_path / 'ws' / '.mlcd' / 'm.db'}?timeout=30"
    db.migrate()
    assert (tmp_path / "ws" / ".mlcd" / "m.db").is_file()
    assert not (tmp_path / ".mlcd").exists()
