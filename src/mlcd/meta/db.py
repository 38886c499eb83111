"""The metadata DB: engine setup per backend, read/write transactions, schema migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcd.errors import MetadataError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

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
        # SQLAlchemy costs ~0.25 s to import: parse SQLite URLs by hand so that the cheap
        # paths (`peek_latest`) never load it; everything else creates the engine on first use.
        self.sqlite_path: Path | None = None
        self.is_sqlite = url.split(":", 1)[0].split("+")[0] == "sqlite"
        name, sep, query = url.removeprefix("sqlite:///").partition("?")
        uri = name.startswith("file:")  # `?uri=true` form: left to the driver
        if url.startswith("sqlite:///") and name not in ("", ":memory:") and not uri:
            path = Path(name) if Path(name).is_absolute() else Path(base).absolute() / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MetadataError(
                    f"cannot make the folder of metadata DB {path}: {exc.strerror}",
                    hint="fix `metadata:` in mlcd.yaml, or the folders on its path",
                ) from exc
            # driver options (`?timeout=30`) are kept; the fast lane would ignore them
            self.sqlite_path = None if sep else path
            url = f"sqlite:///{path}{sep}{query}"
        self._raw_url = url
        self._sqlite_lock = threading.RLock()
        self.url = url if self.is_sqlite else hide_password(url)
        self._migrated = False

    @cached_property
    def id(self) -> str:
        """This DB's random id (made by migration 0006): what its marks in a store name."""
        with self.sql() as conn:
            rows = conn.execute("SELECT value FROM settings WHERE key = 'database_id'")
        return str(rows[0]["value"])

    @cached_property
    def engine(self) -> Engine:
        import sqlalchemy as sa

        try:
            return _create_engine(sa.engine.make_url(self._raw_url))
        except ImportError as exc:
            raise MetadataError(
                f"cannot use metadata URL {self.url}: its driver is not installed ({exc})",
                hint="for PostgreSQL: pip install 'mlcd[postgres]'",
            ) from exc
        except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: a port not a number
            raise MetadataError(
                f"cannot use metadata URL {self.url}: {exc}",
                hint="use sqlite:///path/to.db or postgresql+psycopg://user@host/db",
            ) from exc

    def peek(self, query: str, params: tuple[Any, ...]) -> list[sqlite3.Row] | None:
        """Run a read-only query over the stdlib driver, for paths that must be fast.

        Returns None when that is not possible (not a SQLite file, schema not at the newest
        revision, any driver error): the caller then takes the normal path.
        """
        if self.sqlite_path is None or not self.sqlite_path.is_file():
            return None
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=5)
            ) as conn:
                conn.row_factory = sqlite3.Row
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                if revision is None or revision[0] != known_revisions()[-1]:
                    return None
                return conn.execute(query, params).fetchall()
        except sqlite3.Error:
            return None

    @contextlib.contextmanager
    def sql(self, write: bool = False) -> Iterator[SqlConnection]:
        """A transaction for plain, portable SQL with `:name` parameters.

        On a SQLite file already at the newest revision this uses the stdlib driver: importing
        SQLAlchemy costs ~0.25 s, most of what a fully cached `mlcd run` would take. Anywhere
        else (PostgreSQL, a DB to migrate) it goes through SQLAlchemy.
        """
        if self.sqlite_path is not None and self._sqlite_at_head():
            conn = self._sqlite
            with self._sqlite_lock:
                try:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield _SqliteConnection(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    raise MetadataError(
                        f"metadata DB {self.url} failed: {exc}", hint=_hint(exc)
                    ) from exc
                except sqlite3.DatabaseError as exc:
                    if type(exc) is not sqlite3.DatabaseError:
                        raise
                    raise self._not_a_database(exc) from exc
            return
        with self.write() if write else self.read() as sa_conn:
            yield _AlchemyConnection(sa_conn)

    @cached_property
    def _sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.sqlite_path or ":memory:",
            timeout=60,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        # the same settings as the SQLAlchemy lane: WAL commits need no fsync at NORMAL
        for pragma in ("busy_timeout=60000", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def _sqlite_at_head(self) -> bool:
        if self._migrated:
            return True
        rows = self.peek("SELECT 1", ())
        self._migrated = rows is not None
        return self._migrated

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
        import sqlalchemy as sa

        try:
            yield
        except sa.exc.OperationalError as exc:
            message = f"metadata DB {self.url} failed: {exc.orig}"
            raise MetadataError(message, hint=_hint(exc)) from exc
        except sa.exc.DatabaseError as exc:
            # exactly sqlite3.DatabaseError: the file itself is bad; subclasses (IntegrityError
            # ...) are the callers' to handle
            if type(exc.orig) is not sqlite3.DatabaseError:
                raise
            raise self._not_a_database(exc.orig) from exc

    def _not_a_database(self, exc: sqlite3.DatabaseError) -> MetadataError:
        return MetadataError(
            f"metadata DB {self.sqlite_path or self.url} is not a usable SQLite database: {exc}",
            hint="restore it from a backup, or move it away to start an empty one",
        )

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
            import sqlalchemy as sa

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
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "_sqlite" in self.__dict__:
            self._sqlite.close()
            del self.__dict__["_sqlite"]


class SqlConnection(Protocol):
    """Plain SQL in a transaction; rows come back as dicts. `dialect` names the backend
    ("sqlite", "postgresql") for the rare clause that differs, such as FOR UPDATE.

    Values are stored alike on every backend: datetimes as UTC, and text with any NUL
    character replaced by U+FFFD (PostgreSQL refuses NUL in text; a step or an action that
    printed binary output must still have its error recorded).
    """

    dialect: str

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None: ...


# SQLAlchemy stores SQLite datetimes as naive UTC text in this format; both lanes must agree
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


class _SqliteConnection:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.executemany(sql, [{k: _to_sqlite(v) for k, v in r.items()} for r in rows])

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        values = {k: _to_sqlite(v) for k, v in (params or {}).items()}
        cursor = self.conn.execute(sql, values)
        return [dict(row) for row in cursor.fetchall()] if cursor.description else []


def _to_sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_DATETIME)
    return _without_nul(value)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def parse_datetime(value: Any) -> datetime | None:
    """A datetime read by either lane, as an aware UTC datetime.

    SQLite gives naive UTC text; PostgreSQL gives aware datetimes in the session's time zone,
    which is the server's unless set: both become UTC, so that every backend reads the same.
    """
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class _AlchemyConnection:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        import sqlalchemy as sa

        if rows:
            self.conn.execute(
                sa.text(sql), [{k: _without_nul(v) for k, v in r.items()} for r in rows]
            )

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        values = {k: _without_nul(v) for k, v in (params or {}).items()}
        result = self.conn.execute(sa.text(sql), values)
        return [dict(row._mapping) for row in result] if result.returns_rows else []


def hide_password(url: str) -> str:
    """`url` with its password as `***`, for messages and records; `<database>` when it cannot
    be parsed, as then nobody knows which part of it is the password."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<database>"


def _current_revision(conn: Connection) -> str | None:
    import sqlalchemy as sa

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


def with_driver(url: sa.URL) -> sa.URL:
    """`postgresql://` and `postgres://` mean psycopg 3, which the `postgres` extra installs
    (SQLAlchemy would pick psycopg2): for the metadata DB and SQL sources alike."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _create_engine(url: sa.URL) -> Engine:
    import sqlalchemy as sa
    from sqlalchemy import event

    url = with_driver(url)
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


def _hint(exc: Exception) -> str:
    """What to check for a failed metadata DB operation, by what the driver said."""
    said = str(exc).lower()
    if "readonly" in said or "read-only" in said or "unable to open database file" in said:
        return (
            "the DB file or its folder is read-only or missing: SQLite needs to write the file "
            "and its -wal/-shm files beside it, even to read"
        )
    return "check that the database is reachable and not locked by a crashed process"
