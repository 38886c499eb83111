"""Read a Parquet footer without pyarrow: the row count and a fingerprint of the schema.

Adding one partition to a large dataset should cost about what the new file costs, and
importing pyarrow to read one footer costs more than the rest of the re-snapshot. The footer is
Thrift's compact protocol; this decodes just enough of `FileMetaData` to find `num_rows`
(field 3) and the bytes that decide the Arrow schema pyarrow would derive: the Parquet schema
(field 2), the `ARROW:schema` entry of the key-value metadata (field 5) and the writer
(field 6, which some type mappings depend on). Their hash, the
*footprint*, maps to a schema id the stat index learnt from pyarrow once.

It only ever accelerates, so it errs towards None, and the caller then reads the file with
pyarrow, which reports what is wrong with it: a footer that is encrypted, truncated, very large,
nested too deeply, whose known fields have unexpected types, that lacks a field the Parquet
format requires (as pyarrow's Thrift reader would refuse it), or whose row groups do not add up
to `num_rows`. The structs below list the fields of parquet.thrift it checks; others are skipped.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

from blake3 import blake3

MAGIC = b"PAR1"
MAX_FOOTER = 1 << 16  # bigger footers (many row groups x columns) are faster to read in C++

# compact protocol type ids
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = range(9)
_LIST, _SET, _MAP, _STRUCT, _UUID = range(9, 14)
_FIXED = {_BYTE: 1, _DOUBLE: 8, _UUID: 16}
_VARINTS = (_I16, _I32, _I64)
_ARROW_SCHEMA = b"ARROW:schema"
_MAX_DEPTH = 32

# A struct: field id -> (compact type, what a list holds or a struct is), and required ids.
Spec = tuple[dict[int, tuple[int, object]], frozenset[int]]
_ANY: Spec = ({}, frozenset())  # fields not checked, only skipped
_KEY_VALUE: Spec = ({1: (_BINARY, None), 2: (_BINARY, None)}, frozenset({1}))
_SCHEMA_ELEMENT: Spec = (
    {
        4: (_BINARY, None),
        **{i: (_I32, None) for i in (1, 2, 3, 5, 6, 7, 8, 9)},
        10: (_STRUCT, _ANY),
    },
    frozenset({4}),
)
_PAGE_ENCODING_STATS: Spec = ({i: (_I32, None) for i in (1, 2, 3)}, frozenset({1, 2, 3}))
_SORTING_COLUMN: Spec = (
    {1: (_I32, None), 2: (_TRUE, None), 3: (_TRUE, None)},
    frozenset({1, 2, 3}),
)
_COLUMN_META: Spec = (
    {
        13: (_LIST, _PAGE_ENCODING_STATS),
        **{i: (_I32, None) for i in (1, 4)},
        2: (_LIST, _I32),
        3: (_LIST, _BINARY),
        **{i: (_I64, None) for i in (5, 6, 7, 9, 10, 11, 14)},
        8: (_LIST, _KEY_VALUE),
        12: (_STRUCT, _ANY),
    },
    frozenset({1, 2, 3, 4, 5, 6, 7, 9}),
)
_COLUMN_CHUNK: Spec = (
    {
        1: (_BINARY, None),
        2: (_I64, None),
        3: (_STRUCT, _COLUMN_META),
        4: (_I64, None),
        5: (_I32, None),
        6: (_I64, None),
        7: (_I32, None),
    },
    frozenset({2}),
)
_ROW_GROUP: Spec = (
    {
        1: (_LIST, _COLUMN_CHUNK),
        4: (_LIST, _SORTING_COLUMN),
        2: (_I64, None),
        3: (_I64, None),
        5: (_I64, None),
        6: (_I64, None),
        7: (_I16, None),
    },
    frozenset({1, 2, 3}),
)
_FILE_META: Spec = (
    {
        1: (_I32, None),
        2: (_LIST, _SCHEMA_ELEMENT),
        3: (_I64, None),
        4: (_LIST, _ROW_GROUP),
        5: (_LIST, _KEY_VALUE),
        6: (_BINARY, None),
    },
    frozenset({1, 2, 3, 4}),
)


class _Malformed(Exception):
    """The footer is not what this decoder understands; the caller falls back to pyarrow."""


@dataclass(frozen=True)
class Footer:
    rows: int
    footprint: str  # hash of the bytes that decide the Arrow schema


def read_footer(path: str | os.PathLike[str]) -> Footer | None:
    """Rows and schema footprint of a Parquet file, or None when pyarrow should read it."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != MAGIC:
                return None
            size = f.seek(0, os.SEEK_END)
            if size < 12:
                return None
            f.seek(size - 8)
            tail = f.read(8)
            length = struct.unpack("<I", tail[:4])[0]
            if tail[4:] != MAGIC or length > min(MAX_FOOTER, size - 12):
                return None
            f.seek(size - 8 - length)
            footer = f.read(length)
        return _decode(footer)
    except (OSError, _Malformed, IndexError, struct.error):
        return None


def _decode(buf: bytes) -> Footer:
    fields, spans, pos = _read_struct(buf, 0, _FILE_META, 0)
    rows = fields[3]
    groups = fields[4]
    if rows < 0 or not fields[2] or sum(g[3] for g in groups) != rows or pos != len(buf):
        raise _Malformed
    arrow = b""
    for kv in fields.get(5, ()):
        if kv[1] == _ARROW_SCHEMA:
            arrow = kv.get(2, b"")
    schema = buf[slice(*spans[2])]
    hasher = blake3()
    for part in (schema, arrow, fields.get(6, b"")):  # length-prefixed: the parts hold any bytes
        hasher.update(len(part).to_bytes(8, "little") + part)
    return Footer(rows, hasher.hexdigest()[:32])


def _read_struct(
    buf: bytes, pos: int, spec: Spec, depth: int
) -> tuple[dict[int, Any], dict[int, tuple[int, int]], int]:
    """Decode a struct: values of its known fields (ints, bytes, lists of struct values), the
    byte span of each, and the position after it. Like Thrift, a known field of another type
    is skipped; unlike Thrift, a list of the wrong element type is refused."""
    if depth > _MAX_DEPTH:
        raise _Malformed
    known, required = spec
    values: dict[int, Any] = {}
    spans: dict[int, tuple[int, int]] = {}
    field = 0
    while True:
        field, kind, pos = _field_header(buf, pos, field)
        if kind == _STOP:
            break
        start = pos
        expected = known.get(field)
        if expected is None or expected[0] != (_TRUE if kind == _FALSE else kind):
            pos = _skip(buf, pos, kind, depth + 1)
            continue
        inner = expected[1]
        if kind in _VARINTS:
            raw, pos = _varint(buf, pos, wide=kind == _I64)
            values[field] = (raw >> 1) ^ -(raw & 1)  # zigzag
        elif kind in (_TRUE, _FALSE):
            values[field] = kind == _TRUE
        elif kind == _BINARY:
            values[field], pos = _binary(buf, pos)
        elif kind == _STRUCT:
            if inner is _ANY:
                pos = _skip(buf, pos, kind, depth + 1)
            else:
                values[field], _, pos = _read_struct(buf, pos, inner, depth + 1)  # type: ignore[arg-type]
        else:  # a list
            size, elem, pos = _list_header(buf, pos)
            items: list[Any] = []
            if isinstance(inner, tuple):  # of structs
                if size and elem != _STRUCT:
                    raise _Malformed
                for _ in range(size):
                    item, _, pos = _read_struct(buf, pos, inner, depth + 1)
                    items.append(item)
            else:
                if size and elem != inner:
                    raise _Malformed
                for _ in range(size):
                    pos = _skip(buf, pos, elem, depth + 1)
            values[field] = items
        spans[field] = (start, pos)
    if not required <= values.keys():
        raise _Malformed
    return values, spans, pos


# The helpers below take the buffer and a position and return the new position: plain
# functions on locals, as a footer holds a few fields per column per row group.


def _varint(buf: bytes, pos: int, wide: bool = False) -> tuple[int, int]:
    """An unsigned varint: at most 5 bytes and 31 bits (sizes, i16, i32), or 10 with `wide`
    (i64), as Thrift's reader enforces."""
    result = shift = 0
    limit = 70 if wide else 35
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift >= limit:
            raise _Malformed
    if not wide and result >= 1 << 32:
        raise _Malformed
    return result, pos


def _size(buf: bytes, pos: int) -> tuple[int, int]:
    """A length or element count: Thrift refuses one that is negative as an int32."""
    n, pos = _varint(buf, pos)
    if n >= 1 << 31:
        raise _Malformed
    return n, pos


def _skip_varint(buf: bytes, pos: int, kind: int = _I64) -> int:
    end = pos + (10 if kind == _I64 else 5)
    while buf[pos] & 0x80:
        pos += 1
        if pos >= end:
            raise _Malformed
    return pos + 1


def _field_header(buf: bytes, pos: int, last: int) -> tuple[int, int, int]:
    b = buf[pos]
    pos += 1
    kind = b & 0x0F
    if kind == _STOP:
        return last, _STOP, pos
    if kind > _STRUCT:  # UUID (13) and beyond: unknown to the Thrift pyarrow reads with
        raise _Malformed
    if b >> 4:
        return last + (b >> 4), kind, pos
    raw, pos = _varint(buf, pos)  # a long-form field id
    return (raw >> 1) ^ -(raw & 1), kind, pos


def _list_header(buf: bytes, pos: int) -> tuple[int, int, int]:
    b = buf[pos]
    pos += 1
    size, elem = b >> 4, b & 0x0F
    if size == 15:
        size, pos = _size(buf, pos)
    if not _TRUE <= elem <= _STRUCT:  # even in an empty list, as Thrift checks it
        raise _Malformed
    return size, elem, pos


def _binary(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _size(buf, pos)
    if pos + n > len(buf):
        raise _Malformed
    return buf[pos : pos + n], pos + n


def _skip(buf: bytes, pos: int, kind: int, depth: int) -> int:
    """Skip a value of `kind` (a struct field's booleans live in its header: nothing to skip)."""
    if depth > _MAX_DEPTH:
        raise _Malformed
    if kind == _STRUCT:
        while True:
            b = buf[pos]
            pos += 1
            ftype = b & 0x0F
            if ftype == _STOP:
                return pos
            if ftype > _STRUCT:
                raise _Malformed
            if not b >> 4:
                pos = _skip_varint(buf, pos, _I16)
            if ftype > _FALSE:
                pos = _skip(buf, pos, ftype, depth + 1)
    if kind in _VARINTS:
        return _skip_varint(buf, pos, kind)
    if kind == _BINARY:
        n, pos = _size(buf, pos)
        if pos + n > len(buf):
            raise _Malformed
        return pos + n
    if kind in (_TRUE, _FALSE):
        return pos
    if kind in _FIXED:
        return pos + _FIXED[kind]
    if kind in (_LIST, _SET):
        size, elem, pos = _list_header(buf, pos)
        if elem in (_TRUE, _FALSE):
            return pos + size  # inside a list, a boolean is one byte of its own
        for _ in range(size):
            pos = _skip(buf, pos, elem, depth + 1)
            if pos > len(buf):
                raise _Malformed
        return pos
    if kind == _MAP:
        size, pos = _size(buf, pos)
        if size:
            types = buf[pos]
            pos += 1
            for _ in range(size):
                for elem in (types >> 4, types & 0x0F):
                    if elem in (_TRUE, _FALSE):
                        pos += 1
                    else:
                        pos = _skip(buf, pos, elem, depth + 1)
                if pos > len(buf):
                    raise _Malformed
        return pos
    raise _Malformed
