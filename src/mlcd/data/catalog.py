"""Dataset versions in the metadata DB: resolve references, list, history, insert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlcd.data.manifest import DatasetVersion, FileEntry
from mlcd.errors import NotFoundError
from mlcd.meta.tables import dataset_files, dataset_versions, datasets
from mlcd.names import Ref

_V = dataset_versions.c


def dataset_id(conn: Connection, name: str, lock: bool = False) -> int | None:
    """The id of dataset `name`; `lock` holds its row until commit, so that version numbers
    are allocated one writer at a time (SQLite already serialises writers: BEGIN IMMEDIATE)."""
    query = sa.select(datasets.c.id).where(datasets.c.name == name)
    return conn.execute(query.with_for_update() if lock else query).scalar()


def ensure_dataset(conn: Connection, name: str) -> int:
    """The locked id of dataset `name`, created if new (inside the caller's write transaction)."""
    found = dataset_id(conn, name, lock=True)
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(datasets).values(name=name, created_at=datetime.now(UTC)))
    except sa.exc.IntegrityError:
        pass  # a concurrent writer created it first
    found = dataset_id(conn, name, lock=True)
    assert found is not None
    return found


def _select() -> sa.Select[Any]:
    return sa.select(dataset_versions, datasets.c.name).join(
        datasets, datasets.c.id == _V.dataset_id
    )


def latest(conn: Connection, ds_id: int) -> DatasetVersion | None:
    row = conn.execute(
        _select().where(_V.dataset_id == ds_id).order_by(_V.number.desc()).limit(1)
    ).first()
    return None if row is None else _entity(row)


def resolve(conn: Connection, ref: Ref, with_files: bool = False) -> DatasetVersion:
    """The version a reference names; NotFoundError says what exists instead."""
    ds_id = dataset_id(conn, ref.name)
    if ds_id is None:
        names = conn.execute(sa.select(datasets.c.name).order_by(datasets.c.name)).scalars().all()
        known = ", ".join(names[:10]) if names else "none yet"
        raise NotFoundError(
            f"dataset {ref.name!r} does not exist",
            hint=f"known datasets: {known}; create one with `mlcd data snapshot {ref.name} SOURCE`",
        )
    query = _select().where(_V.dataset_id == ds_id)
    if ref.version == "latest":
        query = query.order_by(_V.number.desc()).limit(1)
    else:
        query = query.where(_V.number == ref.version)
    row = conn.execute(query).first()
    if row is None:
        newest = latest(conn, ds_id)
        raise NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}",
            hint=f"versions are 1..{newest.number}; see `mlcd data log {ref.name}`"
            if newest
            else None,
        )
    version = _entity(row)
    if with_files:
        version = _with_files(conn, row.id, version)
    return version


def list_latest(conn: Connection) -> list[DatasetVersion]:
    newest = (
        sa.select(_V.dataset_id, sa.func.max(_V.number).label("number"))
        .group_by(_V.dataset_id)
        .subquery()
    )
    query = (
        _select()
        .join(newest, (newest.c.dataset_id == _V.dataset_id) & (newest.c.number == _V.number))
        .order_by(datasets.c.name)
    )
    return [_entity(row) for row in conn.execute(query)]


def history(conn: Connection, name: str) -> list[DatasetVersion]:
    resolve(conn, Ref(name, "latest"))  # raises a clear error for an unknown dataset
    query = _select().where(datasets.c.name == name).order_by(_V.number.desc())
    return [_entity(row) for row in conn.execute(query)]


def insert_version(
    conn: Connection, ds_id: int, version: DatasetVersion, files: Sequence[FileEntry]
) -> None:
    version_id = conn.execute(
        sa.insert(dataset_versions).values(
            dataset_id=ds_id,
            number=version.number,
            content_id=version.content_id,
            parent=version.parent,
            format=version.format,
            schema=version.schema.to_json(),
            partitioning=json.dumps(version.partitioning),
            rows=version.rows,
            files=version.file_count,
            bytes=version.bytes,
            source=version.source,
            message=version.message,
            created_at=version.created_at,
            created_by=version.created_by,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(
        sa.insert(dataset_files),
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


def _files(conn: Connection, version_id: int) -> tuple[FileEntry, ...]:
    rows = conn.execute(
        sa.select(dataset_files)
        .where(dataset_files.c.version_id == version_id)
        .order_by(dataset_files.c.path)
    )
    return tuple(
        FileEntry(r.path, r.blob, r.size, r.rows, json.loads(r.partition), r.schema_id)
        for r in rows
    )


def _with_files(conn: Connection, version_id: int, version: DatasetVersion) -> DatasetVersion:
    from dataclasses import replace

    return replace(version, files=_files(conn, version_id))


def _entity(row: Any) -> DatasetVersion:
    return DatasetVersion.from_row(row._mapping)
