"""Reading a version back, through Arrow, pandas or DuckDB, from the store, never the source."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcd.data.manifest import DatasetVersion, FileEntry, SchemaInfo
from mlcd.errors import IntegrityError, InvalidNameError, NotFoundError, QueryError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    from mlcd.store import ObjectStore


class DatasetReader:
    """A version, a column selection and a partition filter; nothing is read until asked.

    Args:
        version: the version, with its files.
        store: where its blobs live.
        columns: the columns to read (data or partition columns), or one column's name; all
            when None. An empty list is refused: DuckDB has no relation without columns.
        partitions: one SQL condition over the partition keys only, e.g.
            "date >= '2024-01-01'"; it selects the files to read.
        verify: hash each local blob before its first read (see `verification.py`); remote
            blobs are compared by size. False trusts the store: a missing local blob is still
            named, but a damaged one reads as whatever it holds.
        verified: where verified local blobs are remembered, so that later readers only stat
            them; None hashes them for every reader.
    """

    def __init__(
        self,
        version: DatasetVersion,
        store: ObjectStore,
        columns: str | Sequence[str] | None = None,
        partitions: str | None = None,
        *,
        verify: bool = True,
        verified: Path | None = None,
    ) -> None:
        self.version = version
        self.store = store
        self.columns = _column_list(version, columns)
        self.partitions = partitions
        self.verify = verify
        self._verified_index = verified
        self._checked = False
        self.files: tuple[FileEntry, ...] = self._select_files()

    def _select_files(self) -> tuple[FileEntry, ...]:
        if self.partitions is None:
            return self.version.files
        keys = self.version.partitioning
        if not keys:
            raise QueryError(
                f"{self.version.ref} is not partitioned, so it cannot be filtered by partition",
                hint="drop the partition filter, or filter rows after reading",
            )
        hint = f"write one SQL condition over {', '.join(keys)}"
        import duckdb

        index = "_file"  # never seen by the filter: it is applied to the keys alone
        while index in keys:
            index += "_"
        table = self._partition_table(index)
        # The filter reads no files and no Python variables: only the keys it is given.
        con = duckdb.connect(config={"enable_external_access": False})
        try:
            con.execute("SET python_enable_replacements = false").fetchall()
            # DuckDB's parser, not ours, tells a `;` that ends a statement from one in a comment
            if len(con.extract_statements("SELECT 1 WHERE " + self.partitions)) > 1:
                raise QueryError(
                    f"partition filter {self.partitions!r} holds a ';': it must be one condition",
                    hint=hint,
                )
            if _has_subquery(con, self.partitions):
                raise QueryError(
                    f"partition filter {self.partitions!r} holds a subquery: it may name only "
                    "the partition keys",
                    hint=hint,
                )
            kept = con.from_arrow(table.drop_columns([index])).filter(self.partitions)
            same = " AND ".join(f"f.{quote(k)} IS NOT DISTINCT FROM k.{quote(k)}" for k in keys)
            files = con.from_arrow(table).set_alias("f")
            chosen = files.join(kept.set_alias("k"), same, how="semi").project(index).fetchall()
        except duckdb.Error as exc:
            reason = str(exc).split("\n\nLINE ")[0].replace("\n", " ")  # one line, no caret
            raise QueryError(
                f"partition filter {self.partitions!r} failed: {reason}", hint=hint
            ) from None
        finally:
            con.close()
        return tuple(self.version.files[i] for i in sorted(i for (i,) in chosen))

    def _partition_table(self, index: str) -> pa.Table:
        """One row per file: its position in the version (as `index`) and its typed keys."""
        import pyarrow as pa

        from mlcd.data.partitions import partition_value
        from mlcd.data.schema import arrow_type

        cols: dict[str, Any] = {index: pa.array(range(len(self.version.files)), pa.int64())}
        for key, type_name in self.version.partitioning.items():
            values = [partition_value(f.partition[key], type_name) for f in self.version.files]
            cols[key] = pa.array(values, arrow_type(type_name))
        return pa.table(cols)

    def locations(self) -> list[tuple[pafs.FileSystem, str]]:
        """Where the selected files' blobs are read in place, checked first (see `verify`)."""
        from mlcd.data.verification import check_files

        if not self._checked:
            check_files(self.version.ref, self.files, self.store, self._verified_index, self.verify)
            self._checked = True
        return [self.store.arrow_location(f.blob) for f in self.files]

    def arrow_dataset(self) -> pads.Dataset:
        """A lazy pyarrow Dataset over the selected files, with typed partition columns."""
        import pyarrow as pa
        import pyarrow.dataset as pads

        from mlcd.data.partitions import partition_value
        from mlcd.data.schema import arrow_type, to_arrow

        schema = to_arrow(self.version.schema)
        for key, type_name in self.version.partitioning.items():
            schema = schema.append(pa.field(key, arrow_type(type_name)))
        if not self.files:
            return pads.dataset(schema.empty_table())
        # pyarrow cannot open a JSON lines file without a value (Spark writes them): no rows
        located = [
            (f, at)
            for f, at in zip(self.files, self.locations(), strict=True)
            if f.rows or self.version.format != "json"
        ]
        if not located:
            return pads.dataset(schema.empty_table())
        expressions = []
        for f, _ in located:
            expr = pads.scalar(True)
            for key, type_name in self.version.partitioning.items():
                value = partition_value(f.partition[key], type_name)
                field = pads.field(key)
                expr = expr & (field.is_null() if value is None else field == value)
            expressions.append(expr)
        return pads.FileSystemDataset.from_paths(
            [path for _, (_, path) in located],
            schema=schema,
            format=_file_format(self.version.format, self.version.schema),
            filesystem=located[0][1][0],
            partitions=expressions,
        )

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        try:
            return self.arrow_dataset().to_table(columns=self.columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IntegrityError(
                f"cannot read {self.version.ref}: {exc}",
                hint="`mlcd fsck` re-hashes every blob and names the damaged ones",
            ) from exc

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def duckdb(
        self, connection: duckdb.DuckDBPyConnection | None = None
    ) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the files; DuckDB streams them, pushing filters down."""
        import duckdb

        con = connection or duckdb.connect()
        relation = con.from_arrow(self.arrow_dataset())
        if self.columns is not None:
            relation = relation.select(*[duckdb.ColumnExpression(c) for c in self.columns])
        return relation


def _column_list(version: DatasetVersion, columns: str | Sequence[str] | None) -> list[str] | None:
    """The columns to read: a single name is one column (not its characters)."""
    if columns is None:
        return None
    chosen = [columns] if isinstance(columns, str) else list(columns)
    known = [*version.schema.names, *version.partitioning]
    if not chosen:
        raise InvalidNameError(
            f"an empty column list reads nothing of {version.ref}",
            hint=f"leave `columns` out to read every column, or name some: {', '.join(known)}",
        )
    for col in chosen:
        if col not in known:
            raise NotFoundError(
                f"{version.ref} has no column {col!r}", hint=f"columns: {', '.join(known)}"
            )
    return chosen


def _has_subquery(con: duckdb.DuckDBPyConnection, condition: str) -> bool:
    """Whether DuckDB parses `condition` with a subquery in it (which could name tables)."""
    import json

    sql = "SELECT 1 WHERE " + condition
    ((tree,),) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    nodes: list[Any] = [json.loads(tree)]
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict):
            if node.get("class") == "SUBQUERY":
                return True
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)
    return False  # a parse error is left for the filter itself to report


def quote(name: str) -> str:
    """`name` as a DuckDB identifier, safe whatever it holds (the checks' SQL uses it too)."""
    return '"' + name.replace('"', '""') + '"'


def _file_format(fmt: str, info: SchemaInfo) -> pads.FileFormat:
    import pyarrow.dataset as pads

    from mlcd.data.schema import json_block_size, to_arrow

    schema = to_arrow(info)
    if fmt == "parquet":
        return pads.ParquetFileFormat()
    if fmt == "csv":
        import pyarrow.csv as pcsv

        types = {f.name: f.type for f in schema}
        return pads.CsvFileFormat(convert_options=pcsv.ConvertOptions(column_types=types))
    import pyarrow.json as pjson

    # the block holds every column of each file: pyarrow names a file's columns from its first
    block = json_block_size(info) or pjson.ReadOptions().block_size
    return pads.JsonFileFormat(
        parse_options=pjson.ParseOptions(explicit_schema=schema),
        read_options=pjson.ReadOptions(block_size=block),
    )
