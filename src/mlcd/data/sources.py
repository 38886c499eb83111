"""Where snapshots come from: folders and files on disk, Arrow/pandas tables, SQL queries."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlcd.data.manifest import FORMATS
from mlcd.data.partitions import parse_partition
from mlcd.errors import QueryError, SourceError
from mlcd.meta.db import hide_password

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import sqlalchemy as sa


@dataclass(frozen=True)
class SourceFile:
    """A file found in a source, with the stat the incremental index compares."""

    path: str  # relative, '/'-separated: the path inside the version
    abspath: str
    size: int
    mtime_ns: int
    inode: int
    partition: dict[str, str] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return FORMATS[_suffix(self.path)]


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _ignored(name: str) -> bool:
    # Spark/Hadoop markers (_SUCCESS, _metadata) and hidden files (.crc, .DS_Store) are not data
    return name.startswith((".", "_"))


def scan(source: Path, prefix: str = "") -> list[SourceFile]:
    """List the data files of a folder (recursively) or a single file, sorted by path.

    Symlinks are followed. One that leads back to a folder containing it would make the source
    endless, and a broken one is a data file the user expects but is missing: both are refused,
    naming the link.
    """
    try:
        st = source.stat()
    except FileNotFoundError:
        if source.is_symlink():
            raise _broken_link(str(source)) from None
        raise SourceError(f"source {source} does not exist") from None
    except PermissionError:
        raise SourceError(f"source {source} is not readable (permission denied)") from None
    except OSError as exc:  # a symlink loop (ELOOP), a name too long, ...
        raise SourceError(f"source {source} cannot be read: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        return [_source_file(str(source), prefix + source.name, st)]
    files: list[SourceFile] = []
    _walk(str(source), prefix, files, {(st.st_dev, st.st_ino): str(source)})
    if not files:
        raise SourceError(
            f"source {source} holds no data files",
            hint="a source is a folder of .parquet, .csv or .jsonl files (or one such file)",
        )
    files.sort(key=lambda f: f.path)
    return files


def _walk(
    folder: str, rel: str, out: list[SourceFile], ancestors: dict[tuple[int, int], str]
) -> None:
    # plain strings, not Path objects: a source can hold many thousands of files;
    # `ancestors` are the folders above this one by (device, inode): a symlink to one is a loop
    try:
        entries = list(os.scandir(folder))
    except PermissionError:
        raise SourceError(f"folder {folder} is not readable (permission denied)") from None
    except OSError as exc:
        raise SourceError(f"folder {folder} cannot be read: {exc.strerror}") from None
    for entry in entries:
        if _ignored(entry.name):
            continue
        try:
            st = entry.stat()  # follows symlinks
        except FileNotFoundError:
            if entry.is_symlink():
                raise _broken_link(entry.path) from None
            raise SourceError(
                f"file {entry.path} disappeared while the source was scanned",
                hint="snapshot again once the source is complete",
            ) from None
        except OSError as exc:  # a link to itself (ELOOP), permission denied on the target
            what = "symlink" if entry.is_symlink() else "file"
            raise SourceError(
                f"{what} {entry.path} cannot be followed: {exc.strerror}",
                hint="fix or remove it, or move it out of the source folder",
            ) from None
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                raise SourceError(
                    f"symlink {entry.path} leads back to {ancestors[key]}, which contains it",
                    hint="a source must not loop: remove the link, or snapshot a folder without it",
                )
            _walk(entry.path, f"{rel}{entry.name}/", out, {**ancestors, key: entry.path})
        elif stat.S_ISREG(st.st_mode):
            out.append(_source_file(entry.path, rel + entry.name, st))


def _broken_link(path: str) -> SourceError:
    return SourceError(
        f"symlink {path} points to {os.readlink(path)}, which does not exist",
        hint="restore the file it points to, or remove the link",
    )


def _source_file(path: str, rel: str, st: os.stat_result) -> SourceFile:
    try:
        rel.encode()
    except UnicodeEncodeError:  # os.fsdecode() kept undecodable bytes as lone surrogates
        raise SourceError(
            f"path {os.fsencode(path)!r} is not valid UTF-8",
            hint="manifests store paths as text: rename it to UTF-8 "
            "(e.g. `convmv -f latin1 -t utf8 --notest`), or move it out of the source folder",
        ) from None
    if _suffix(rel) not in FORMATS:
        raise SourceError(
            f"file {path} is not a supported data file",
            hint="supported: .parquet/.pq, .csv, .jsonl/.ndjson/.json (JSON lines); "
            "move other files out of the source folder",
        )
    if not os.access(path, os.R_OK):
        raise SourceError(f"file {path} is not readable (permission denied)")
    return SourceFile(rel, path, st.st_size, st.st_mtime_ns, st.st_ino, parse_partition(rel))


def check_consistent(files: list[SourceFile]) -> str:
    """One format and one set of partition keys per version; returns the format."""
    formats = {f.format for f in files}
    if len(formats) > 1:
        a, b = sorted(formats)[:2]
        fa = next(f.path for f in files if f.format == a)
        fb = next(f.path for f in files if f.format == b)
        raise SourceError(
            f"source mixes {a} ({fa}) and {b} ({fb}) files",
            hint="a dataset version holds one format; snapshot them as separate datasets",
        )
    keys = list(files[0].partition)
    for f in files:
        if list(f.partition) != keys:
            raise SourceError(
                f"file {f.path} is partitioned by {list(f.partition) or 'nothing'} "
                f"but {files[0].path} by {keys or 'nothing'}",
                hint="all files of a dataset sit at the same depth of key=value folders",
            )
    return formats.pop()


def write_table(table: pd.DataFrame | pd.Series | pa.Table, dest: Path) -> None:
    """Materialise a pandas DataFrame or Arrow table as one Parquet file (deterministic bytes).

    A pandas Series is the one-column DataFrame `series.to_frame()` makes. A DataFrame's index
    is data unless it is an unnamed RangeIndex (row positions, which add nothing): it is kept as
    leading columns, named as `frame.reset_index()` names them (the index's name, else `index`
    or `level_N`). The file holds no pandas metadata, so every reader sees the same plain
    columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = _from_pandas(table)
    if table.num_columns == 0:
        raise SourceError("the table has no columns")
    pq.write_table(table.replace_schema_metadata(None), dest)


def _from_pandas(frame: object) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise SourceError(
            f"cannot snapshot an object of type {type(frame).__qualname__}",
            hint="a source is a path (folder or file), a database URL with a query or a table, "
            "a pandas DataFrame or Series, or a pyarrow Table",
        )
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        try:
            frame = frame.reset_index()
        except ValueError as exc:  # an index named like a column
            raise SourceError(
                f"cannot keep the DataFrame's index {list(frame.index.names)} as columns: {exc}",
                hint="rename the index (`frame.rename_axis('new')`), "
                "or drop it (`frame.reset_index(drop=True)`)",
            ) from None
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise SourceError(f"cannot convert the DataFrame to Arrow: {exc}") from exc


def write_query(url: str, query: str, dest: Path, table: str | None = None) -> None:
    """Run a query against a database (any SQLAlchemy URL) and write the result as Parquet.

    Columns take the types the database gives them (`sqltypes.column_types`): a `numeric(10, 2)`
    is `decimal128(10, 2)` whatever its values, an all-NULL column keeps its type, so the schema
    stays the same from one snapshot to the next. Columns the database does not type, and values
    that do not fit their type (SQLite stores any value anywhere), are typed by their values,
    over the whole result: one 1.255 makes a `numeric(10, 2)` column double, one 'abc' among
    integers makes the column text, wherever the row falls.
    A SQLite file that does not exist is refused, not created empty; a failed connection is a
    SourceError (the server or the URL), a failed query a QueryError (the SQL).
    """
    import pyarrow as pa
    import sqlalchemy as sa

    from mlcd.data import sqltypes
    from mlcd.meta.db import with_driver

    try:
        parsed = with_driver(sa.make_url(url))
        sqlite = sqlite_file(parsed)
        if sqlite is not None and not os.path.exists(sqlite):  # SQLite would create it, empty
            raise SourceError(
                f"cannot connect to {hide_password(url)}: database file {os.path.abspath(sqlite)} "
                "does not exist",
                hint="a relative path in a sqlite:/// URL is relative to the current folder "
                "(in mlcd.yaml: to the workspace root)",
            )
        engine = sa.create_engine(parsed)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise SourceError(f"cannot use database URL {hide_password(url)}: {exc}") from exc
    try:
        with _connect(engine, url, sqlite) as conn:
            sqltypes.read_as_text(conn)
            result = conn.execution_options(stream_results=True).execute(sa.text(query))
            names = list(result.keys())
            _check_unique(names, url)
            types = sqltypes.column_types(conn, result, query, table)
            batches: list[pa.Table] = []
            while chunk := result.fetchmany(50_000):
                columns = list(zip(*chunk, strict=True))  # rows to columns, in C
                arrays = [sqltypes.to_array(c, t) for c, t in zip(columns, types, strict=True)]
                batches.append(pa.table(arrays, names=names))
    except sa.exc.DBAPIError as exc:
        raise QueryError(
            f"query against {hide_password(url)} failed: {exc.orig}",
            hint="check the SQL and that the tables it names exist",
        ) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise QueryError(f"query against {hide_password(url)} failed: {exc}") from exc
    finally:
        engine.dispose()
    if not names:
        raise SourceError(f"query against {hide_password(url)} returned no columns")
    if batches:
        pieces = [[b.column(i) for b in batches] for i in range(len(names))]
        merged = [_merge_column(p, name, url) for p, name in zip(pieces, names, strict=True)]
        result_table = pa.table(merged, names=names)
    else:
        empty = [pa.array([], t or pa.null()) for t in types]
        result_table = pa.table(empty, names=names)
    write_table(result_table, dest)


def _merge_column(pieces: list[pa.ChunkedArray], name: str, url: str) -> pa.ChunkedArray:
    """One column of a query result from its per-batch pieces, typed as one batch would be.

    A type every piece casts to without change (int64 and double: double), else text, as
    `sqltypes.to_array` types mixed values: where a batch boundary falls changes nothing.
    """
    import pyarrow as pa

    fields = [pa.schema([pa.field(name, p.type)]) for p in pieces]
    try:
        target = pa.unify_schemas(fields, promote_options="permissive").field(0).type
        return pa.chunked_array([c for p in pieces for c in p.cast(target).chunks], target)
    except pa.ArrowException:  # 1 in one batch, 'abc' in another (SQLite): as text
        pass
    try:
        text = [
            pa.array([None if v is None else str(v) for v in p.to_pylist()], pa.string())
            for p in pieces
        ]
        return pa.chunked_array(text, pa.string())
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise QueryError(
            f"query against {hide_password(url)}: column {name!r} holds values of types "
            f"{sorted({str(p.type) for p in pieces})} that cannot be merged: {exc}",
            hint=f"CAST({name} AS TEXT) in the query, or clean the column's values",
        ) from exc


def _connect(engine: sa.Engine, url: str, sqlite: str | None) -> sa.Connection:
    import sqlalchemy as sa

    try:
        return engine.connect()
    except sa.exc.DBAPIError as exc:  # told apart from a failing query: the hint differs
        lines = str(exc.orig).strip().splitlines()  # libpq adds an indented second line
        raise SourceError(
            f"cannot connect to {hide_password(url)}: "
            f"{lines[0] if lines else type(exc.orig).__name__}",
            hint=f"check that {sqlite} is a SQLite database you can read"
            if sqlite
            else "check that the database server is running and reachable, and the URL's "
            "host, port, user, password and database name",
        ) from exc


def _check_unique(names: list[str], url: str) -> None:
    # a Parquet file, like a DataFrame, names each column once
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise QueryError(
                f"query against {hide_password(url)} returns more than one column named {name!r}",
                hint=f"name each column once, with AS: SELECT {name}, {name} AS {name}_2 ...",
            )
        seen.add(name)


def sqlite_file(url: sa.URL) -> str | None:
    """The file a SQLite URL opens, as written; None for other databases and in-memory ones.

    Handles SQLite URI filenames too (`sqlite:///file:ops.db?mode=ro&uri=true`).
    """
    from urllib.parse import unquote, urlsplit

    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if url.query.get("uri") == "true" and database.startswith("file:"):
        if url.query.get("mode") == "memory":
            return None
        database = unquote(urlsplit(database).path)
    return None if database in ("", ":memory:") else database


def root_sqlite_url(url: str, root: Path) -> str:
    """`url` with a relative SQLite file taken as relative to `root`; other URLs unchanged.

    mlcd.yaml names files relative to the workspace root, wherever mlcd runs from.
    """
    from urllib.parse import quote

    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:  # write_query says what is wrong with it
        return url
    path = sqlite_file(parsed)
    if path is None or os.path.isabs(path):
        return url
    database = parsed.database or ""
    rooted = str(root / path)
    if database.startswith("file:"):  # a SQLite URI: the path is URL-encoded
        rooted = f"file:{quote(rooted)}"
    return parsed.set(database=rooted).render_as_string(hide_password=False)
