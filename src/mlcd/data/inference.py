"""Rows and schema of a CSV or JSON lines file: the types a whole-file read gives, streamed.

pyarrow's streaming readers type each column from the first block (about 1 MB) and then fail
on a later value that does not fit, such as `1.5` after 300,000 integers or a key first seen on
line 100,001. A whole-file read would widen the type, but holds the whole table in memory. So
mlcd streams, and only when a stream fails that way does it stream again with wider types:
a CSV column loosened the way Arrow's own inference loosens it, JSON lines typed by merging the
schemas of the file's pieces. Memory stays bounded by a block or a piece, whatever the size.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import NoReturn

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from mlcd.data.schema import JSON_BLOCK_KEY, check_unique
from mlcd.errors import SourceError

# The order in which Arrow's CSV inference loosens a column that a value does not fit
# (arrow/csv/inference_internal.h): a whole-file read ends at the first type every value fits.
_CSV_TYPES = [
    pa.null(),
    pa.int64(),
    pa.bool_(),
    pa.date32(),
    pa.time32("s"),
    pa.timestamp("s"),
    pa.timestamp("ns"),
    pa.timestamp("s", "UTC"),
    pa.timestamp("ns", "UTC"),
    pa.float64(),
    pa.string(),
    pa.binary(),
]
_CSV_ERROR = re.compile(
    r"In CSV column #(\d+): CSV conversion error to [^:]*: invalid value '(.*)'$"
)
_PIECE = 16 << 20  # JSON lines parsed at a time when the stream needs a second look
# The largest block a reader may need to see every key of a JSON lines file: each reader
# thread holds one, and pyarrow takes at most 2 GiB
MAX_JSON_BLOCK = 256 << 20


def csv_facts(path: str, display: str) -> tuple[int, pa.Schema]:
    """Rows and schema of a CSV file; pyarrow's error if it is not one.

    A header naming a column twice is refused before streaming: the two columns cannot be
    widened apart, and the conversion error a later value raises would hide the real cause.
    """
    types: dict[str, pa.DataType] = {}
    schema: pa.Schema | None = None
    while True:
        try:
            reader = pcsv.open_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
            schema = reader.schema
            check_unique(schema, display)
            return sum(batch.num_rows for batch in reader), schema
        except pa.ArrowInvalid as exc:
            loosened = _loosen(exc, schema, types)
            if loosened is None:
                raise
            types[loosened[0]] = loosened[1]


def _loosen(
    exc: pa.ArrowInvalid, schema: pa.Schema | None, types: dict[str, pa.DataType]
) -> tuple[str, pa.DataType] | None:
    """The column a value did not fit and the next type to try, or None when none is left.

    Types that cannot hold the value are skipped: one more pass, not one per type in between.
    """
    m = _CSV_ERROR.match(str(exc))
    if m is None or schema is None or int(m[1]) >= len(schema):
        return None
    name = schema.names[int(m[1])]
    now = types.get(name, schema.field(int(m[1])).type)
    at = _CSV_TYPES.index(now if now in _CSV_TYPES else pa.float64())  # unknown: try strings
    if at + 1 >= len(_CSV_TYPES):
        return None
    return name, _CSV_TYPES[max(at + 1, _csv_type_of(m[2]))]


def _csv_type_of(value: str) -> int:
    """Where in the loosening order Arrow would type this one value (0 when unsure)."""
    cell = '"' + value.replace('"', '""') + '"'
    try:
        found = pcsv.read_csv(io.BytesIO(f"v\n{cell}\n".encode())).schema.field(0).type
    except (pa.ArrowException, UnicodeEncodeError):
        return 0
    return _CSV_TYPES.index(found) if found in _CSV_TYPES else 0


def json_facts(path: str, display: str) -> tuple[int, pa.Schema]:
    """Rows and schema of a JSON lines file; pyarrow's error if it is not one.

    A file without a single value (empty, or blank lines) is zero rows and no columns. A file
    whose keys are not all in its first block records the block that holds them (metadata
    `JSON_BLOCK_KEY`): pyarrow's dataset reader would drop them. Each reader thread holds a
    block that size, so a key first seen beyond `MAX_JSON_BLOCK` refuses the file.
    """
    first: list[str] = []
    try:
        reader = pjson.open_json(path)
        first = reader.schema.names
        return sum(batch.num_rows for batch in reader), reader.schema
    except pa.ArrowInvalid:
        pass  # a later line that does not fit the first block's types, or no value at all
    merged: pa.StructType = pa.struct([])
    block = 0
    for end, piece in _pieces(path):
        found = pa.struct(list(pjson.read_json(io.BytesIO(piece)).schema))
        late = [f.name for f in found if f.name not in first and merged.get_field_index(f.name) < 0]
        if late:  # a key the first block lacks: a reader's first block must reach here
            if end > MAX_JSON_BLOCK:
                _refuse_late_key(piece, end - len(piece), late[0], display)
            block = end
        merged = _merge(merged, found, "")
    schema = pa.schema(list(merged))
    if not schema:
        return 0, schema
    # once more with the merged types: the same read the reader will do with this schema
    options = pjson.ParseOptions(explicit_schema=schema)
    rows = sum(batch.num_rows for batch in pjson.open_json(path, parse_options=options))
    if block > pjson.ReadOptions().block_size:
        schema = schema.with_metadata({JSON_BLOCK_KEY: str(block).encode()})
    return rows, schema


def _refuse_late_key(piece: bytes, start: int, key: str, display: str) -> NoReturn:
    at = start  # of the first line that has the key, for the message
    for line in piece.splitlines(keepends=True):
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:  # Arrow parsed it: should not happen, and only the offset is at stake
            record = None
        if isinstance(record, dict) and key in record:
            break
        at += len(line)
    raise SourceError(
        f"{display} has key {key!r} first at byte {at:,}: a reader would need blocks of that "
        f"size to see it (at most {MAX_JSON_BLOCK:,} bytes)",
        hint="split the file into smaller ones, or put every key in its first record "
        '(null where it has no value: "key": null)',
    )


def _pieces(path: str) -> Iterator[tuple[int, bytes]]:
    """The file in pieces of whole lines, with the offset each ends at; blank pieces left out."""
    with open(path, "rb") as f:
        tail = b""
        while chunk := f.read(_PIECE):
            chunk = tail + chunk
            cut = chunk.rfind(b"\n") + 1
            piece, tail = chunk[:cut], chunk[cut:]
            if piece.strip():
                yield f.tell() - len(tail), piece
        if tail.strip():
            yield f.tell(), tail


def _merge(a: pa.DataType, b: pa.DataType, where: str) -> pa.DataType:
    """The type a whole-file JSON read gives a column typed `a` in one piece and `b` in another:
    null fits anything, integers widen to float, a string that is not a timestamp makes the
    column strings, struct fields merge by name, list items merge."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    kinds = {a, b}
    if kinds == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.string() in kinds and any(pa.types.is_timestamp(t) for t in kinds):
        return pa.string()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f for f in a}
        for f in b:
            old = fields.get(f.name)
            path = f"{where}/{f.name}"
            fields[f.name] = f if old is None else old.with_type(_merge(old.type, f.type, path))
        return pa.struct(list(fields.values()))
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(_merge(a.value_type, b.value_type, f"{where}[]"))
    raise pa.ArrowInvalid(f"column {where.lstrip('/')} is {a} on some lines but {b} on others")
