"""The metadata DB: engine setup per backend, read/write transactions, schema migrations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from mlcd.errors import MetadataError

MIGRATIONS = Path(__file__).parent / "migrations"


def known_revisions() -> list[str]:
    """Revision ids in order, read from file names (`0001_x.py`) so no Alembic import is needed."""
    return sorted(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


class Database:
    """One metadata DB. `read()` and `write()` yield a Connection inside a transaction.

    On SQLite, `write()` takes the write lock up front (BEGIN IMMEDIATE), so two writers
    serialise instead of failing on lock upgrade; on PostgreSQL it relies on row locks.
    """

    def __init__(self, url: str, base: str | Path = ".") -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path = path if path.is_absolute() else Path(base) / path
            path.parent.mkdir(parents=True, exist_ok=True)
            parsed = parsed.set(database=str(path))
        self.url = parsed.render_as_string(hide_password=True)
        try:
            self.engine = _create_engine(parsed)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise MetadataError(
                f"cannot use metadata URL {self.url}: {exc}",
                hint="use sqlite:///path/to.db or postgresql+psycopg://user@host/db",
            ) from exc
        self._migrated = False

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        self.migrate()
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        self.migrate()
        with self._translated(), self._write_connection() as conn:
            yield conn

    @contextlib.contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        options = {"mlcd_begin": "IMMEDIATE"} if self.is_sqlite else {}
        with self.engine.connect().execution_options(**options) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise MetadataError(
                f"metadata DB {self.url} failed: {exc.orig}",
                hint="check that the database is reachable and not locked by a crashed process",
            ) from exc

    def revision(self) -> str | None:
        with self._translated(), self.engine.connect() as conn:
            return _current_revision(conn)

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest revision; cheap when already there."""
        if self._migrated:
            return
        known = known_revisions()
        head = known[-1]
        current = self.revision()
        if current != head:
            with self._translated(), self._write_connection() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7157746542)"))
                current = _current_revision(conn)  # another process may have just migrated
                if current is not None and current not in known:
                    raise MetadataError(
                        f"metadata DB {self.url} is at schema revision {current}, "
                        "newer than this mlcd knows",
                        hint="upgrade mlcd (pip install -U mlcd) to use this workspace",
                    )
                if current != head:
                    _upgrade(conn, head)
        self._migrated = True

    def close(self) -> None:
        self.engine.dispose()


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(conn: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _create_engine(url: sa.URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('mlcd_begin', 'DEFERRED')}")

    return engine
