"""Taking a snapshot: scan a source, ingest only new or changed files, commit one version.

Order of work, cheapest first: stat every file and trust the incremental index for unchanged
ones; only when the resulting content differs from the parent do we import pyarrow, unify
schemas and write to the DB. Blobs go to the store before the version row is committed, so a
crash at any point leaves the previous state intact (at worst, unreferenced blobs).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcd.data import append as appending
from mlcd.data.facts import FileFacts, preload, read_all
from mlcd.data.footer import Footer, read_footer
from mlcd.data.manifest import DatasetVersion, FileEntry, SchemaInfo, content_id
from mlcd.data.partitions import partition_types
from mlcd.data.sources import SourceFile, check_consistent, scan, write_query, write_table
from mlcd.data.statcache import Known, StatCache
from mlcd.errors import SourceError
from mlcd.identity import current_user
from mlcd.meta.db import hide_password
from mlcd.names import validate_name
from mlcd.store import Staged, hash_file
from mlcd.store.staging import Check, StagingBatch, staging

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
    with _materialised(ctx, source, query, table, append) as (path, description, label):
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
                label=label,
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
) -> Iterator[tuple[Path, str, str | None]]:
    """A path on disk for any source; tables and query results are written as Parquet first.

    Yields (path, description, label): `label` names a table or query result in errors instead
    of its temporary file, and is None for real source files (only they use the stat index).
    """
    from mlcd.config import is_database_url

    if isinstance(source, str | os.PathLike) and not (
        isinstance(source, str) and is_database_url(source)
    ):
        if query or table:
            raise SourceError(f"--query/--table need a database URL as source, not {source}")
        path = Path(source).absolute()
        yield path, str(path), None
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
            write_query(source, sql, dest, table=table)
            yield _named_for(dest, append), f"{hide_password(source)} :: {sql}", "the query result"
        else:
            write_table(source, dest)
            label = (
                "the table" if type(source).__module__.startswith("pyarrow") else "the DataFrame"
            )
            yield (
                _named_for(dest, append),
                f"<{type(source).__module__}.{type(source).__name__}>",
                label,
            )


def _named_for(dest: Path, append: bool) -> Path:
    """Appended results are new files beside the old ones: name them by their content."""
    return dest.rename(dest.with_name(f"part-{hash_file(dest)[3:15]}.parquet")) if append else dest


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
    label: str | None,
    append: bool,
    message: str | None,
    rehash: bool,
    progress: Progress,
    workers: int,
) -> SnapshotResult:
    indexed = label is None
    known = cache.lookup(files, fmt) if indexed and not rehash else {}
    gone = ctx.store.missing(k.blob for k in known.values()) if known else set()
    known = {path: k for path, k in known.items() if k.blob not in gone}  # deleted by hand/gc
    todo = [f for f in files if f.abspath not in known]
    progress.start(len(todo), _nbytes(todo))
    # copying starts at once, but files become blobs only once nothing has refused the snapshot
    paths = [f.abspath for f in todo]
    footers: list[Footer | None] = [None] * len(todo)
    base: DatasetVersion | None = None
    with staging(ctx.store, paths, workers, _after_copy(todo, fmt, footers, progress)) as batch:
        preload(todo, fmt, cache)
        _wait_for_copies(batch, paths)
        read = read_all(todo, fmt, cache, workers, footers, label)
        for f in todo:  # facts were read from the source after the copy: same bytes?
            _check_unchanged(f)
        fresh = {r.schema_id: r.schema for r in read.values() if r.schema is not None}
        sids = [(known.get(f.abspath) or read[f.abspath]).schema_id for f in files]
        if append:
            base = appending.base_version(ctx.db, name, fmt)
            appending.check_files(base, files)
            _check_append_schemas(base, files, sids, fresh, cache, label)
        elif todo:
            _check_schemas(files, sids, _latest(ctx.db, name), fresh, cache, label)
        puts = batch.commit()
    ingested = {
        path: Known(put.blob, read[path].rows, read[path].schema_id)
        for path, put in zip(paths, puts, strict=True)
    }
    if indexed:
        _teach(cache, todo, ingested, read, fresh, fmt)
    facts = {**known, **ingested}
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
        ds_id = appending.dataset_id(conn, name) if append else catalog.ensure_dataset(conn, name)
        parent = catalog.latest(conn, ds_id)
        partitioning = partition_types(e.partition for e in entries)
        if append:
            if parent is not None and (base is None or base.number != parent.number):
                # another writer appended meanwhile: check again on top of its version (a
                # refusal now leaves this snapshot's blobs unreferenced, for `mlcd gc`)
                base = appending.with_files(conn, parent)
                appending.check_files(base, files)
                _check_append_schemas(base, files, sids, fresh, cache, label)
            entries = appending.on_top(base, entries)
            if base is not None:  # appended values fit the base's types (check_files)
                partitioning = base.partitioning
        cid = content_id(fmt, entries)
        if parent is not None and parent.content_id == cid:
            return SnapshotResult(parent, False, len(todo), _nbytes(todo), len(known))
        version = _new_version(
            cache, name, fmt, entries, partitioning, cid, parent, description, message, fresh
        )
        catalog.insert_version(conn, ds_id, version, entries)
        _check_reused(ctx.store, conn, name, parent, known)
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
    return DatasetVersion.from_row(dict(rows[0])) if rows else None


def _latest(db: Database, name: str) -> DatasetVersion | None:
    """The newest version: peeked on a SQLite file, else read through the SQL lane (PostgreSQL),
    so that a new partition can inherit its parent's schema on every backend."""
    rows = db.peek(_PEEK_LATEST, (name,))
    if rows is not None:
        return DatasetVersion.from_row(dict(rows[0])) if rows else None
    from mlcd.data import catalog

    with db.sql() as conn:
        ds_id = catalog.dataset_id(conn, name)
        return catalog.latest(conn, ds_id) if ds_id is not None else None


def _check_append_schemas(
    base: DatasetVersion | None,
    files: list[SourceFile],
    sids: list[str],
    fresh: dict[str, pa.Schema],
    cache: StatCache,
    label: str | None,
) -> None:
    """Appended files must agree with the version they go on top of, and its partition keys
    must not be columns of theirs."""
    if base is None:  # nothing to go on top of: the files alone make the version
        _check_schemas(files, sids, None, fresh, cache, label)
        return
    new = [sid for sid in dict.fromkeys(sids) if sid not in base.schema.variants]
    if not new:
        return  # each variant of a version agrees with its unified schema and its keys
    from mlcd.data.schema import to_arrow, unify

    first = _first_files(files, sids, label)
    by_id = _schemas_by_id(new, fresh, base, cache)
    schemas = [(base.ref, to_arrow(base.schema))]
    schemas += [(first[sid], by_id[sid]) for sid in new]
    unify(schemas, base.partitioning)


def _check_schemas(
    files: list[SourceFile],
    sids: list[str],
    parent: DatasetVersion | None,
    fresh: dict[str, pa.Schema],
    cache: StatCache,
    label: str | None,
) -> None:
    """Unify the schemas the new version will have, so a conflict stores nothing."""
    partitioning = partition_types(f.partition for f in files)
    if _inherits_schema(sids, partitioning, parent):
        return
    from mlcd.data.schema import unify

    # one file per distinct schema is enough to find a conflict (and to name where it is)
    first = _first_files(files, sids, label)
    by_id = _schemas_by_id(sids, fresh, parent, cache)
    unify([(first[sid], schema) for sid, schema in by_id.items()], partitioning)


def _first_files(files: list[SourceFile], sids: list[str], label: str | None) -> dict[str, str]:
    """What to call the first file of each schema id in an error: its path, or the label."""
    return dict(zip(reversed(sids), reversed([label or f.path for f in files]), strict=True))


def _inherits_schema(
    sids: list[str], partitioning: dict[str, str], parent: DatasetVersion | None
) -> bool:
    """True when unifying would give exactly the parent's schema, so pyarrow is not needed.

    Unification depends only on the distinct file schemas in order of first appearance (the
    parent's `variants` keep that order) and on the partition keys.
    """
    return (
        parent is not None
        and list(dict.fromkeys(sids)) == list(parent.schema.variants)
        and list(partitioning) == list(parent.partitioning)
    )


def _schemas_by_id(
    sids: list[str],
    fresh: dict[str, pa.Schema],
    parent: DatasetVersion | None,
    cache: StatCache,
) -> dict[str, pa.Schema]:
    """The Arrow schema of each distinct id: just read, a variant of the parent, or indexed."""
    import pyarrow as pa

    from mlcd.data.schema import deserialize

    out: dict[str, pa.Schema] = {}
    for sid in dict.fromkeys(sids):
        if sid in fresh:
            out[sid] = fresh[sid]
        elif parent is not None and sid in parent.schema.variants:
            out[sid] = deserialize(parent.schema.variants[sid])
        elif (ipc := cache.schema(sid)) is not None:
            out[sid] = pa.ipc.read_schema(pa.py_buffer(ipc))
        else:
            raise SourceError(f"schema {sid} is missing from the index", hint="retry with --rehash")
    return out


def _nbytes(files: list[SourceFile]) -> int:
    return sum(f.size for f in files)


_PARENT_BLOBS = (
    "SELECT f.blob FROM dataset_files f JOIN dataset_versions v ON v.id = f.version_id"
    " JOIN datasets d ON d.id = v.dataset_id WHERE d.name = :name AND v.number = :number"
)


def _check_reused(
    store: ObjectStore, conn: Any, name: str, parent: DatasetVersion | None, known: dict[str, Known]
) -> None:
    """Blobs reused through the stat index that the parent does not hold (left by a snapshot
    that never committed) may be collected by a concurrent `mlcd gc`: inside the transaction
    they are made young again (gc then keeps them) and checked, so no version refers to a
    missing blob."""
    reused = {k.blob for k in known.values()}
    if parent is not None and reused:  # the blobs alone: this runs on every new version
        rows = conn.execute(_PARENT_BLOBS, {"name": name, "number": parent.number})
        reused -= {r["blob"] for r in rows}
    gone = store.refresh(reused) if reused else set()  # young again: a running gc keeps them
    if gone:
        raise SourceError(
            f"{len(gone)} blob(s) this snapshot reuses were removed from the store meanwhile "
            "(a concurrent `mlcd gc`?); nothing was committed",
            hint="snapshot again: the files will be stored afresh",
        )


def _wait_for_copies(batch: StagingBatch, sources: list[str]) -> None:
    """Wait for the staged copies; a source file that vanished or became unreadable meanwhile
    is the user's SourceError, naming it (any other OSError is the store's)."""
    try:
        batch.wait()
    except OSError as exc:
        if exc.filename not in sources:
            raise
        raise SourceError(
            f"cannot read {exc.filename}: {exc.strerror}",
            hint="it changed or was removed while it was being snapshotted; snapshot again",
        ) from exc


def _after_copy(
    todo: list[SourceFile], fmt: str, footers: list[Footer | None], progress: Progress
) -> Check:
    """Refuse a file that changed while it was copied; decode its Parquet footer (pages still
    in memory, and this thread's turn); report progress."""

    def check(index: int, staged: Staged) -> None:
        f = todo[index]
        _check_unchanged(f, staged.size)
        if fmt == "parquet":
            footers[index] = read_footer(f.abspath)
        progress.advance(staged.size)

    return check


def _check_unchanged(f: SourceFile, copied: int | None = None) -> None:
    """Refuse a file whose stat moved since the scan: its blob (the copy), its rows and its
    schema (read from the source after the copy) must all describe the same bytes. Size and
    mtime, like the stat index; a stat is cheap next to reading the file."""
    try:
        st = os.stat(f.abspath)
    except OSError as exc:
        raise SourceError(
            f"cannot read {f.abspath}: {exc.strerror}",
            hint="it changed or was removed while it was being snapshotted; snapshot again",
        ) from exc
    if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns) or copied not in (None, f.size):
        raise SourceError(
            f"file {f.path} changed while it was being snapshotted",
            hint="snapshot again once the writer has finished",
        )


def _teach(
    cache: StatCache,
    todo: list[SourceFile],
    ingested: dict[str, Known],
    read: dict[str, FileFacts],
    fresh: dict[str, pa.Schema],
    fmt: str,
) -> None:
    """Record the new files in the stat index, with new schemas and footprints."""
    schemas = {}
    if fresh:
        from mlcd.data.schema import serialize

        schemas = {sid: serialize(schema) for sid, schema in fresh.items()}
    footprints = {r.footprint: r.schema_id for r in read.values() if r.footprint}
    cache.record(((f, ingested[f.abspath]) for f in todo), fmt, schemas, footprints)


def _new_version(
    cache: StatCache,
    name: str,
    fmt: str,
    entries: list[FileEntry],
    partitioning: dict[str, str],
    cid: str,
    parent: DatasetVersion | None,
    description: str,
    message: str | None,
    fresh: dict[str, pa.Schema],
) -> DatasetVersion:
    sids = [e.schema_id for e in entries]
    if parent is not None and _inherits_schema(sids, partitioning, parent):
        schema = parent.schema
    else:
        schema = _unified(entries, partitioning, parent, fresh, cache)
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


def _unified(
    entries: list[FileEntry],
    partitioning: dict[str, str],
    parent: DatasetVersion | None,
    fresh: dict[str, pa.Schema],
    cache: StatCache,
) -> SchemaInfo:
    from mlcd.data.schema import unify

    by_id = _schemas_by_id([e.schema_id for e in entries], fresh, parent, cache)
    return unify([(e.path, by_id[e.schema_id]) for e in entries], partitioning)
