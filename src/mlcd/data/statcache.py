"""The incremental index: which source files are known by their stat (like git's index).

A file whose (size, mtime, inode) is unchanged since it was hashed is trusted to hold the same
blob, unless its mtime was too close to the moment it was recorded: a write in the same clock
tick could change the content without changing the stat (git's "racily clean" problem), so such
entries are re-hashed once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlcd.data.sources import SourceFile
from mlcd.errors import BackendError

RACY_NS = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,
    blob TEXT, recorded_ns INTEGER);
CREATE TABLE IF NOT EXISTS blob_facts (
    blob TEXT PRIMARY KEY, format TEXT, rows INTEGER, schema_id TEXT);
CREATE TABLE IF NOT EXISTS schemas (id TEXT PRIMARY KEY, ipc BLOB);
CREATE TABLE IF NOT EXISTS footprints (footprint TEXT PRIMARY KEY, schema_id TEXT);
"""


def open_index(path: Path, schema: str) -> sqlite3.Connection:
    """A machine-local SQLite index under `.mlcd/cache` (WAL; autocommit unless BEGIN)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(schema)
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection: many rows, one commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class Known:
    """What the index knows of an unchanged file's content."""

    blob: str
    rows: int
    schema_id: str


class StatCache:
    """A small SQLite file local to this machine (inodes mean nothing elsewhere)."""

    def __init__(self, path: Path) -> None:
        try:
            self.conn = open_index(path, _SCHEMA)
        except (OSError, sqlite3.Error) as exc:  # a read-only or full disk, a corrupt file
            raise BackendError(
                f"cannot open the stat index {path}: {exc}",
                hint=f"make {path.parent} writable; if the file is corrupt, delete it (a cache)",
            ) from exc

    def lookup(self, files: list[SourceFile], fmt: str) -> dict[str, Known]:
        """Known content of the files whose stat is unchanged, by absolute path."""
        import json

        out: dict[str, Known] = {}
        by_path = {f.abspath: f for f in files}
        query = (  # one query for all files, not one per file: a source can hold thousands
            "SELECT s.path, s.size, s.mtime_ns, s.inode, s.blob, s.recorded_ns, b.rows,"
            " b.schema_id FROM stat s JOIN blob_facts b ON b.blob = s.blob AND b.format = ?"
            " WHERE s.path IN (SELECT value FROM json_each(?))"
        )
        for row in self.conn.execute(query, (fmt, json.dumps(list(by_path)))):
            path, size, mtime_ns, inode, blob, recorded_ns, rows, sid = row
            f = by_path[path]
            if (size, mtime_ns, inode) == (f.size, f.mtime_ns, f.inode) and (
                mtime_ns < recorded_ns - RACY_NS
            ):
                out[path] = Known(blob, rows, sid)
        return out

    def blob_of(self, path: str, st: os.stat_result) -> str | None:
        """The blob of a file whose stat is unchanged since it was recorded (not racily)."""
        row = self.conn.execute(
            "SELECT size, mtime_ns, inode, blob, recorded_ns FROM stat WHERE path = ?", (path,)
        ).fetchone()
        if row is None:
            return None
        size, mtime_ns, inode, blob, recorded_ns = row
        if (size, mtime_ns, inode) != (st.st_size, st.st_mtime_ns, st.st_ino):
            return None
        return str(blob) if mtime_ns < recorded_ns - RACY_NS else None

    def remember(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        """Record (path, stat, blob) for files hashed outside a dataset snapshot."""
        now = time.time_ns()
        rows = [(p, st.st_size, st.st_mtime_ns, st.st_ino, blob, now) for p, st, blob in entries]
        if rows:
            with transaction(self.conn):
                self.conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", rows)

    def facts(self, blob: str, fmt: str) -> Known | None:
        row = self.conn.execute(
            "SELECT rows, schema_id FROM blob_facts WHERE blob = ? AND format = ?", (blob, fmt)
        ).fetchone()
        return None if row is None else Known(blob, row[0], row[1])

    def schema(self, sid: str) -> bytes | None:
        row = self.conn.execute("SELECT ipc FROM schemas WHERE id = ?", (sid,)).fetchone()
        return None if row is None else bytes(row[0])

    def footprints(self, footprints: Iterable[str]) -> dict[str, str]:
        """Schema ids of Parquet footer footprints (see `footer.py`) whose schema is held."""
        import json

        query = (
            "SELECT f.footprint, f.schema_id FROM footprints f JOIN schemas s ON s.id = f.schema_id"
            " WHERE f.footprint IN (SELECT value FROM json_each(?))"
        )
        return dict(self.conn.execute(query, (json.dumps(sorted(footprints)),)).fetchall())

    def record(
        self,
        entries: Iterable[tuple[SourceFile, Known]],
        fmt: str,
        schemas: dict[str, bytes],
        footprints: dict[str, str] | None = None,
    ) -> None:
        """Remember new files' stat and facts, new schemas, and footprint -> schema id."""
        now = time.time_ns()
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO schemas VALUES (?, ?)", list(schemas.items())
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO footprints VALUES (?, ?)", list((footprints or {}).items())
            )
            pairs = list(entries)
            self.conn.executemany(
                "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)",
                [(f.abspath, f.size, f.mtime_ns, f.inode, k.blob, now) for f, k in pairs],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO blob_facts VALUES (?, ?, ?, ?)",
                [(k.blob, fmt, k.rows, k.schema_id) for _, k in pairs],
            )

    def close(self) -> None:
        self.conn.close()
