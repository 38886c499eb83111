"""Taking a snapshot: scan a source, ingest only new or changed files, commit one version.

Order of work, cheapest first: stat every file and trust the incremental index for unchanged
ones; only when the resulting content differs from the parent do we import pyarrow, unify
schemas and write to the DB. Blobs go to the store before the version row is committed, so a
crash at any point leaves the previous state intact (at worst, unreferenced blobs).
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcd.data.manifest import DatasetVersion, FileEntry, SchemaInfo, content_id
from mlcd.data.sources import (
    FileFacts,
    SourceFile,
    check_consistent,
    read_facts,
    scan,
    write_query,
    write_table,
)
from mlcd.data.statcache import Known, StatCache
from mlcd.errors import NotFoundError, SourceError
from mlcd.identity import current_user
from mlcd.names import Ref, validate_name
from mlcd.store import hash_file

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlcd.meta import Database
    from mlcd.store import ObjectStore


class Progress(Protocol):
    """Receives ingest progress; the CLI draws a bar, the library default does nothing."""

    def start(self, files: int, nbytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...


class _Silent:
    def start(self, files: int, nbytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass


@dataclass(frozen=True)
class SnapshotResult:
    """The version a snapshot produced, or its unchanged parent when `created` is False."""

    version: DatasetVersion
    created: bool
    files_ingested: int
    bytes_ingested: int
    files_reused: int


@dataclass(frozen=True)
class Context:
    """What a snapshot needs from the workspace."""

    store: ObjectStore
    db: Database
    stat_cache: Path
    tmp: Path


def default_workers() -> int:
    # I/O bound: a few threads per core keep reads and writes in flight while others hash
    return min(8, 2 * (os.cpu_count() or 2))


def snapshot(
    ctx: Context,
    name: str,
    source: str | os.PathLike[str] | pd.DataFrame | pa.Table,
    *,
    query: str | None = None,
    table: str | None = None,
    append: bool = False,
    message: str | None = None,
    rehash: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> SnapshotResult:
    """Snapshot `source` as a new version of dataset `name` (see `Workspace.snapshot`)."""
    validate_name(name)
    with _materialised(ctx, source, query, table, append) as (path, description, indexed):
        prefix = _append_prefix(path) if append else ""
        files = scan(path, prefix)
        fmt = check_consistent(files)
        cache = StatCache(ctx.stat_cache)
        try:
            return _ingest(
                ctx,
                cache,
                name,
                files,
                fmt,
                description=description,
                indexed=indexed,
                append=append,
                message=message,
                rehash=rehash,
                progress=progress or _Silent(),
                workers=workers or default_workers(),
            )
        finally:
            cache.close()


@contextlib.contextmanager
def _materialised(
    ctx: Context, source: Any, query: str | None, table: str | None, append: bool
) -> Iterator[tuple[Path, str, bool]]:
    """A path on disk for any source; tables and query results are written as Parquet first.

    Yields (path, description, indexed): only real source files go through the stat index.
    """
    from mlcd.config import is_database_url

    if isinstance(source, str | os.PathLike) and not (
        isinstance(source, str) and is_database_url(source)
    ):
        if query or table:
            raise SourceError(f"--query/--table need a database URL as source, not {source}")
        path = Path(source).absolute()
        yield path, str(path), True
        return
    ctx.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        dest = Path(tmp) / "data.parquet"
        if isinstance(source, str):
            if not (query or table):
                raise SourceError(
                    f"database source {source} needs a query or a table",
                    hint="pass --query 'SELECT ...' or --table NAME",
                )
            sql = query or f'SELECT * FROM "{validate_name(table or "", "table")}"'
            write_query(source, sql, dest)
            yield dest, f"{_redact(source)} :: {sql}", False
        else:
            write_table(source, dest)
            if append:  # appended tables are new files beside the old: name them by content
                dest = dest.rename(dest.with_name(f"part-{hash_file(dest)[3:15]}.parquet"))
            yield dest, f"<{type(source).__module__}.{type(source).__name__}>", False


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _append_prefix(path: Path) -> str:
    # appending folder `date=2024-02-01/` keeps its partition name in the version
    return f"{path.name}/" if path.is_dir() and "=" in path.name else ""


def _ingest(
    ctx: Context,
    cache: StatCache,
    name: str,
    files: list[SourceFile],
    fmt: str,
    *,
    description: str,
    indexed: bool,
    append: bool,
    message: str | None,
    rehash: bool,
    progress: Progress,
    workers: int,
) -> SnapshotResult:
    known = cache.lookup(files, fmt) if indexed and not rehash else {}
    gone = ctx.store.missing(k.blob for k in known.values()) if known else set()
    known = {path: k for path, k in known.items() if k.blob not in gone}  # deleted by hand/gc
    todo = [f for f in files if f.abspath not in known]
    # everything that can refuse the snapshot runs before a single blob is stored
    read = _read_facts(todo, fmt, workers)
    base = _check_append(ctx.db, name, fmt) if append and todo else None
    if todo:
        _check_schemas(files, known, read, cache, base)
    progress.start(len(todo), sum(f.size for f in todo))
    ingested = _store_files(ctx.store, todo, read, progress, workers)
    if indexed:
        cache.record(((f, ingested[f.abspath][0]) for f in todo), fmt, _schemas(ingested))
    facts = {**known, **{path: k for path, (k, _) in ingested.items()}}
    entries = [
        FileEntry(
            f.path,
            facts[f.abspath].blob,
            f.size,
            facts[f.abspath].rows,
            f.partition,
            facts[f.abspath].schema_id,
        )
        for f in files
    ]
    if not todo and not append:  # cheap check first: nothing read, maybe nothing changed
        newest = _peek_latest(ctx.db, name)
        if newest is not None and newest.content_id == content_id(fmt, entries):
            return SnapshotResult(newest, False, 0, 0, len(known))

    from mlcd.data import catalog

    with ctx.db.sql(write=True) as conn:
        ds_id = _existing(conn, name) if append else catalog.ensure_dataset(conn, name)
        parent = catalog.latest(conn, ds_id)
        if append:
            entries = _on_top_of(conn, parent, name, entries, fmt)
        cid = content_id(fmt, entries)
        if parent is not None and parent.content_id == cid:
            return SnapshotResult(parent, False, len(todo), _nbytes(todo), len(known))
        version = _new_version(
            cache, name, fmt, entries, cid, parent, description, message, ingested
        )
        catalog.insert_version(conn, ds_id, version, entries)
        from mlcd.events.log import DATASET_SNAPSHOT, emit

        emit(
            conn,
            DATASET_SNAPSHOT,
            version.ref,
            {
                "dataset": name,
                "version": version.number,
                "content_id": cid,
                "parent": version.parent,
                "rows": version.rows,
                "files": version.file_count,
            },
        )
    return SnapshotResult(version, True, len(todo), _nbytes(todo), len(known))


_PEEK_LATEST = (
    "SELECT v.*, d.name FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
    "WHERE d.name = ? ORDER BY v.number DESC LIMIT 1"
)


def _peek_latest(db: Database, name: str) -> DatasetVersion | None:
    """The newest version without importing SQLAlchemy (None when the fast path can't tell).

    A no-change re-snapshot is a command people run in loops and hooks; it should cost
    a stat per file, not an ORM import.
    """
    rows = db.peek(_PEEK_LATEST, (name,))
    return (
        DatasetVersion.from_row(dict(zip(rows[0].keys(), rows[0], strict=True))) if rows else None
    )


def _existing(conn: Any, name: str) -> int:
    from mlcd.data import catalog

    ds_id = catalog.dataset_id(conn, name, lock=True)
    if ds_id is None:
        raise NotFoundError(
            f"cannot append to dataset {name!r}: it does not exist",
            hint=f"create it first with `mlcd data snapshot {name} SOURCE`",
        )
    return ds_id


def _check_append(db: Database, name: str, fmt: str) -> DatasetVersion | None:
    """The version an append builds on, once it is known to accept files of this format."""
    from mlcd.data import catalog

    with db.sql() as conn:
        parent = catalog.latest(conn, _existing(conn, name))
    _same_format(parent, fmt)
    return parent


def _check_schemas(
    files: list[SourceFile],
    known: dict[str, Known],
    read: dict[str, FileFacts],
    cache: StatCache,
    base: DatasetVersion | None,
) -> None:
    """Unify the schemas the new version will have, so a conflict stores nothing."""
    import pyarrow as pa

    from mlcd.data.schema import partition_types, schema_id, to_arrow, unify

    # one file per distinct schema is enough to find a conflict (and to name where it is)
    distinct: dict[str, tuple[str, pa.Schema]] = {}
    if base is not None:
        distinct["base"] = (base.ref, to_arrow(base.schema))
    for f in files:
        if f.abspath in read:
            schema = read[f.abspath].schema
            distinct.setdefault(schema_id(schema), (f.path, schema))
        elif (sid := known[f.abspath].schema_id) not in distinct:
            ipc = cache.schema(sid)
            if ipc is not None:
                distinct[sid] = (f.path, pa.ipc.read_schema(pa.py_buffer(ipc)))
    unify(list(distinct.values()), partition_types(f.partition for f in files))


def _same_format(parent: DatasetVersion | None, fmt: str) -> None:
    if parent is not None and parent.format != fmt:
        raise SourceError(
            f"cannot append {fmt} files to {parent.ref}, which holds {parent.format} files"
        )


def _nbytes(files: list[SourceFile]) -> int:
    return sum(f.size for f in files)


def _read_facts(todo: list[SourceFile], fmt: str, workers: int) -> dict[str, FileFacts]:
    """Rows and schema of every new file, in parallel; a corrupt file refuses the snapshot."""
    if not todo:
        return {}
    with ThreadPoolExecutor(workers) as pool:
        facts = list(pool.map(lambda f: read_facts(f.abspath, fmt, f.path), todo))
    return {f.abspath: fact for f, fact in zip(todo, facts, strict=True)}


def _store_files(
    store: ObjectStore,
    todo: list[SourceFile],
    read: dict[str, FileFacts],
    progress: Progress,
    workers: int,
) -> dict[str, tuple[Known, bytes]]:
    """Hash-while-copy each new file into the store, in parallel."""
    if not todo:
        return {}

    def one(f: SourceFile) -> tuple[Known, bytes]:
        facts = read[f.abspath]
        put = store.put_file(f.abspath)
        st = os.stat(f.abspath)
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns) or put.size != f.size:
            raise SourceError(
                f"file {f.path} changed while it was being snapshotted",
                hint="snapshot again once the writer has finished",
            )
        progress.advance(put.size)
        from mlcd.data.schema import schema_id, serialize

        return Known(put.blob, facts.rows, schema_id(facts.schema)), serialize(facts.schema)

    pool = ThreadPoolExecutor(workers)
    try:
        results = list(pool.map(one, todo))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return {f.abspath: r for f, r in zip(todo, results, strict=True)}


def _schemas(ingested: dict[str, tuple[Known, bytes]]) -> dict[str, bytes]:
    return {k.schema_id: ipc for k, ipc in ingested.values()}


def _on_top_of(
    conn: Any, parent: DatasetVersion | None, name: str, entries: list[FileEntry], fmt: str
) -> list[FileEntry]:
    if parent is None:
        return entries
    _same_format(parent, fmt)
    from mlcd.data import catalog

    base = catalog.resolve(conn, Ref(name, parent.number), with_files=True).files
    existing = {f.path for f in base}
    clash = [e.path for e in entries if e.path in existing]
    if clash:
        raise SourceError(
            f"cannot append: {parent.ref} already has {clash[0]}"
            + (f" and {len(clash) - 1} more" if len(clash) > 1 else ""),
            hint="append new partitions only; snapshot the whole folder to replace files",
        )
    if base and entries and list(base[0].partition) != list(entries[0].partition):
        raise SourceError(
            f"cannot append files partitioned by {list(entries[0].partition) or 'nothing'} "
            f"to {parent.ref}, partitioned by {list(base[0].partition) or 'nothing'}",
            hint="append a folder named like the existing partitions, e.g. key=value/",
        )
    return sorted([*base, *entries], key=lambda f: f.path)


def _new_version(
    cache: StatCache,
    name: str,
    fmt: str,
    entries: list[FileEntry],
    cid: str,
    parent: DatasetVersion | None,
    description: str,
    message: str | None,
    ingested: dict[str, tuple[Known, bytes]],
) -> DatasetVersion:
    import pyarrow as pa

    from mlcd.data.schema import partition_types, unify

    fresh = {k.schema_id: ipc for k, ipc in ingested.values()}
    if parent is not None:
        fresh.update((sid, base64.b64decode(b)) for sid, b in parent.schema.variants.items())

    def arrow_schema(sid: str) -> pa.Schema:
        ipc = fresh.get(sid) or cache.schema(sid)
        if ipc is None:
            raise SourceError(f"schema {sid} is missing from the index", hint="retry with --rehash")
        return pa.ipc.read_schema(pa.py_buffer(ipc))

    by_id: dict[str, pa.Schema] = {}
    file_schemas = []
    for e in entries:
        if e.schema_id not in by_id:
            by_id[e.schema_id] = arrow_schema(e.schema_id)
        file_schemas.append((e.path, by_id[e.schema_id]))
    partitioning = partition_types(e.partition for e in entries)
    schema: SchemaInfo = unify(file_schemas, partitioning)
    return DatasetVersion(
        name=name,
        number=(parent.number + 1) if parent else 1,
        content_id=cid,
        parent=parent.number if parent else None,
        format=fmt,
        schema=schema,
        partitioning=partitioning,
        rows=sum(e.rows for e in entries),
        file_count=len(entries),
        bytes=sum(e.size for e in entries),
        source=description,
        message=message,
        created_at=datetime.now(UTC),
        created_by=current_user(),
        files=tuple(entries),
    )
