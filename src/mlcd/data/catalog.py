"""Dataset versions in the metadata DB: resolve references, list, history, insert.

Plain portable SQL over `Database.sql()`: on SQLite it runs on the stdlib driver, so reading a
version or taking a snapshot never pays for importing SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from mlcd.data.manifest import DatasetVersion, FileEntry
from mlcd.errors import NotFoundError
from mlcd.meta.db import SqlConnection
from mlcd.names import Ref

_VERSIONS = "SELECT v.*, d.name FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"


def dataset_id(conn: SqlConnection, name: str, lock: bool = False) -> int | None:
    """The id of dataset `name`; `lock` holds its row until commit, so that version numbers
    are allocated one writer at a time (SQLite already serialises writers: BEGIN IMMEDIATE)."""
    sql = "SELECT id FROM datasets WHERE name = :name"
    if lock and conn.dialect != "sqlite":
        sql += " FOR UPDATE"
    rows = conn.execute(sql, {"name": name})
    return int(rows[0]["id"]) if rows else None


def ensure_dataset(conn: SqlConnection, name: str) -> int:
    """The locked id of dataset `name`, created if new (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO datasets (name, created_at) VALUES (:name, :now)"
        " ON CONFLICT (name) DO NOTHING",  # a concurrent writer may have created it first
        {"name": name, "now": datetime.now(UTC)},
    )
    found = dataset_id(conn, name, lock=True)
    assert found is not None
    return found


def latest(conn: SqlConnection, ds_id: int) -> DatasetVersion | None:
    rows = conn.execute(
        f"{_VERSIONS} WHERE v.dataset_id = :ds ORDER BY v.number DESC LIMIT 1", {"ds": ds_id}
    )
    return DatasetVersion.from_row(rows[0]) if rows else None


def resolve(conn: SqlConnection, ref: Ref, with_files: bool = False) -> DatasetVersion:
    """The version a reference names; NotFoundError says what exists instead."""
    ds_id = dataset_id(conn, ref.name)
    if ds_id is None:
        names = [r["name"] for r in conn.execute("SELECT name FROM datasets ORDER BY name")]
        known = ", ".join(names[:10]) if names else "none yet"
        raise NotFoundError(
            f"dataset {ref.name!r} does not exist",
            hint=f"known datasets: {known}; create one with `mlcd data snapshot {ref.name} SOURCE`",
        )
    if ref.version == "latest":
        rows = conn.execute(
            f"{_VERSIONS} WHERE v.dataset_id = :ds ORDER BY v.number DESC LIMIT 1", {"ds": ds_id}
        )
    else:
        rows = conn.execute(
            f"{_VERSIONS} WHERE v.dataset_id = :ds AND v.number = :n",
            {"ds": ds_id, "n": ref.version},
        )
    if not rows:
        newest = latest(conn, ds_id)
        raise NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}",
            hint=f"versions are 1..{newest.number}; see `mlcd data log {ref.name}`"
            if newest
            else None,
        )
    version = DatasetVersion.from_row(rows[0])
    if with_files:
        version = replace(version, files=_files(conn, rows[0]["id"]))
    return version


def list_latest(conn: SqlConnection) -> list[DatasetVersion]:
    rows = conn.execute(
        f"{_VERSIONS} JOIN (SELECT dataset_id, max(number) AS newest FROM dataset_versions"
        " GROUP BY dataset_id) m ON m.dataset_id = v.dataset_id AND m.newest = v.number"
        " ORDER BY d.name"
    )
    return [DatasetVersion.from_row(r) for r in rows]


def history(conn: SqlConnection, name: str) -> list[DatasetVersion]:
    resolve(conn, Ref(name, "latest"))  # raises a clear error for an unknown dataset
    rows = conn.execute(f"{_VERSIONS} WHERE d.name = :name ORDER BY v.number DESC", {"name": name})
    return [DatasetVersion.from_row(r) for r in rows]


def insert_version(
    conn: SqlConnection, ds_id: int, version: DatasetVersion, files: Sequence[FileEntry]
) -> None:
    conn.execute(
        "INSERT INTO dataset_versions (dataset_id, number, content_id, parent, format, schema,"
        " partitioning, rows, files, bytes, source, message, created_at, created_by) VALUES"
        " (:ds, :number, :content_id, :parent, :format, :schema, :partitioning, :rows, :files,"
        " :bytes, :source, :message, :created_at, :created_by)",
        {
            "ds": ds_id,
            "number": version.number,
            "content_id": version.content_id,
            "parent": version.parent,
            "format": version.format,
            "schema": version.schema.to_json(),
            "partitioning": json.dumps(version.partitioning),
            "rows": version.rows,
            "files": version.file_count,
            "bytes": version.bytes,
            "source": version.source,
            "message": version.message,
            "created_at": version.created_at,
            "created_by": version.created_by,
        },
    )
    version_id = conn.execute(
        "SELECT id FROM dataset_versions WHERE dataset_id = :ds AND number = :n",
        {"ds": ds_id, "n": version.number},
    )[0]["id"]
    conn.executemany(
        "INSERT INTO dataset_files (version_id, path, blob, size, rows, partition, schema_id)"
        " VALUES (:version_id, :path, :blob, :size, :rows, :partition, :schema_id)",
        [
            {
                "version_id": version_id,
                "path": f.path,
                "blob": f.blob,
                "size": f.size,
                "rows": f.rows,
                "partition": json.dumps(f.partition),
                "schema_id": f.schema_id,
            }
            for f in files
        ],
    )


def _files(conn: SqlConnection, version_id: int) -> tuple[FileEntry, ...]:
    rows = conn.execute(
        "SELECT * FROM dataset_files WHERE version_id = :v ORDER BY path", {"v": version_id}
    )
    return tuple(
        FileEntry(
            r["path"], r["blob"], r["size"], r["rows"], json.loads(r["partition"]), r["schema_id"]
        )
        for r in rows
    )
