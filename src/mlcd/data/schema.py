"""Arrow schemas of snapshot files: ids, unification across files, partition column types."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import pyarrow as pa
from blake3 import blake3

from mlcd.data.manifest import Field, SchemaInfo
from mlcd.errors import SchemaConflictError

# What a JSON lines file needs of a reader: pyarrow's dataset reader names a file's columns
# from its first block and drops a key first seen later, so a file whose keys appear late
# records the block that holds them all (`inference.json_facts`).
JSON_BLOCK_KEY = b"mlcd.json_block_size"


def serialize(schema: pa.Schema) -> bytes:
    """The schema without metadata (pandas writes index details there), but for mlcd's own."""
    kept = {k: v for k, v in (schema.metadata or {}).items() if k == JSON_BLOCK_KEY}
    bare = schema.remove_metadata()
    return bytes((bare.with_metadata(kept) if kept else bare).serialize())


def schema_id(schema: pa.Schema) -> str:
    """A short id of a schema, of what `serialize` keeps."""
    return blake3(serialize(schema)).hexdigest()[:16]


def json_block_size(info: SchemaInfo) -> int | None:
    """The JSON block size a reader of this version needs (None: pyarrow's default will do)."""
    sizes = [
        int(meta[JSON_BLOCK_KEY])
        for variant in info.variants.values()
        if (meta := deserialize(variant).metadata) and JSON_BLOCK_KEY in meta
    ]
    return max(sizes, default=None)


def to_arrow(info: SchemaInfo) -> pa.Schema:
    return deserialize(info.arrow)


def deserialize(b64: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(b64)))


def check_unique(schema: pa.Schema, display: str) -> None:
    """Refuse a file with two columns of one name: readers select columns by name."""
    names = schema.names
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise SchemaConflictError(
            f"{display} has more than one column named {twice!r}",
            hint="rename the duplicate columns, then snapshot again",
        )


def unify(
    file_schemas: Sequence[tuple[str, pa.Schema]], partition_keys: Iterable[str]
) -> SchemaInfo:
    """Merge per-file schemas: new columns are allowed (nullable); a changed type is a conflict.

    `file_schemas` is (path, schema) in path order; a conflict names both files.
    """
    first_seen: dict[str, tuple[pa.DataType, str]] = {}
    columns: dict[str, pa.Field] = {}
    variants: dict[str, str] = {}
    for path, schema in file_schemas:
        sid = schema_id(schema)
        if sid not in variants:
            variants[sid] = base64.b64encode(serialize(schema)).decode()
        for fld in schema:
            seen = first_seen.get(fld.name)
            if seen is None or pa.types.is_null(seen[0]):
                first_seen[fld.name] = (fld.type, path)
                columns[fld.name] = fld.with_nullable(True)
            elif not pa.types.is_null(fld.type) and fld.type != seen[0]:
                raise SchemaConflictError(
                    f"column {fld.name!r} is {fld.type} in {path} but {seen[0]} in {seen[1]}",
                    hint="rewrite the file that differs with the same type, or snapshot the "
                    "files as separate datasets",
                )
    for key in partition_keys:
        if key in columns:
            raise SchemaConflictError(
                f"partition key {key!r} (folders {key}=...) is also a column in the files",
                hint="rename the folder key or the column",
            )
    unified = pa.schema(list(columns.values()))
    return SchemaInfo(
        fields=tuple(Field(f.name, str(f.type), f.nullable) for f in unified),
        arrow=base64.b64encode(serialize(unified)).decode(),
        variants=variants,
    )


def arrow_type(type_name: str) -> pa.DataType:
    return {"int64": pa.int64(), "float64": pa.float64(), "date32": pa.date32()}.get(
        type_name, pa.string()
    )
