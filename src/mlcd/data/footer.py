"""Read a Parquet footer without pyarrow: the row count and a fingerprint of the schema.

Adding one partition to a large dataset should cost about what the new file costs, and
importing pyarrow to read one footer costs more than the rest of the re-snapshot. The footer is
Thrift's compact protocol; this decodes just enough of `FileMetaData` to find `num_rows`
(field 3) and the bytes that decide the Arrow schema pyarrow would derive: the Parquet schema
(field 2), the `ARROW:schema` entry of the key-value metadata (field 5) and the writer
(field 6, which some type mappings depend on). Their hash, the
*footprint*, maps to a schema id the stat index learnt from pyarrow once.

It only ever accelerates: any footer this does not fully understand (encrypted, truncated,
very large, an unexpected type) gives None and the caller reads the file with pyarrow, which
reports what is wrong with it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from blake3 import blake3

MAGIC = b"PAR1"
MAX_FOOTER = 1 << 16  # bigger footers (many row groups x columns) are faster to read in C++

# compact protocol type ids
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = range(9)
_LIST, _SET, _MAP, _STRUCT, _UUID = range(9, 14)
_FIXED = {_BYTE: 1, _DOUBLE: 8, _UUID: 16}
_VARINTS = (_I16, _I32, _I64)
_ARROW_SCHEMA = b"ARROW:schema"


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
    rows: int | None = None
    schema = arrow = writer = b""
    pos = field = 0
    while True:
        field, kind, pos = _field_header(buf, pos, field)
        if kind == _STOP:
            break
        if field == 3 and kind == _I64:
            raw, pos = _varint(buf, pos)
            rows = (raw >> 1) ^ -(raw & 1)  # zigzag
        elif field == 5 and kind == _LIST:
            arrow, pos = _arrow_schema(buf, pos)
        elif field == 6 and kind == _BINARY:
            writer, pos = _binary(buf, pos)
        else:
            start, pos = pos, _skip(buf, pos, kind)
            if field == 2:
                schema = buf[start:pos]
    if rows is None or rows < 0 or not schema or pos > len(buf):
        raise _Malformed
    hasher = blake3()
    for part in (schema, arrow, writer):  # length-prefixed: the parts hold any bytes
        hasher.update(len(part).to_bytes(8, "little") + part)
    return Footer(rows, hasher.hexdigest()[:32])


def _arrow_schema(buf: bytes, pos: int) -> tuple[bytes, int]:
    """The value of `ARROW:schema` in a list<KeyValue{1: key, 2: value}>, or b''."""
    size, kind, pos = _list_header(buf, pos)
    if size and kind != _STRUCT:
        raise _Malformed
    found = b""
    for _ in range(size):
        key = value = b""
        field = 0
        while True:
            field, ftype, pos = _field_header(buf, pos, field)
            if ftype == _STOP:
                break
            if ftype == _BINARY and field == 1:
                key, pos = _binary(buf, pos)
            elif ftype == _BINARY and field == 2:
                value, pos = _binary(buf, pos)
            else:
                pos = _skip(buf, pos, ftype)
        if key == _ARROW_SCHEMA:
            found = value
    return found, pos


# The helpers below take the buffer and a position and return the new position: plain
# functions on locals, as a footer holds a few fields per column per row group.


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Malformed


def _skip_varint(buf: bytes, pos: int) -> int:
    end = pos + 10
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
    if b >> 4:
        return last + (b >> 4), kind, pos
    raw, pos = _varint(buf, pos)  # a long-form field id
    return (raw >> 1) ^ -(raw & 1), kind, pos


def _list_header(buf: bytes, pos: int) -> tuple[int, int, int]:
    b = buf[pos]
    pos += 1
    size = b >> 4
    if size == 15:
        size, pos = _varint(buf, pos)
    return size, b & 0x0F, pos


def _binary(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _varint(buf, pos)
    if pos + n > len(buf):
        raise _Malformed
    return buf[pos : pos + n], pos + n


def _skip(buf: bytes, pos: int, kind: int) -> int:
    """Skip a value of `kind` (a struct field's booleans live in its header: nothing to skip)."""
    if kind == _STRUCT:
        while True:
            b = buf[pos]
            pos += 1
            ftype = b & 0x0F
            if ftype == _STOP:
                return pos
            if not b >> 4:
                pos = _skip_varint(buf, pos)
            if ftype in _VARINTS:  # the common fields, inline
                while buf[pos] & 0x80:
                    pos += 1
                pos += 1
            elif ftype > _FALSE:
                pos = _skip(buf, pos, ftype)
    if kind in _VARINTS:
        return _skip_varint(buf, pos)
    if kind == _BINARY:
        n, pos = _varint(buf, pos)
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
            pos = _skip(buf, pos, elem)
            if pos > len(buf):
                raise _Malformed
        return pos
    if kind == _MAP:
        size, pos = _varint(buf, pos)
        if size:
            types = buf[pos]
            pos += 1
            for _ in range(size):
                for elem in (types >> 4, types & 0x0F):
                    pos = pos + 1 if elem in (_TRUE, _FALSE) else _skip(buf, pos, elem)
                if pos > len(buf):
                    raise _Malformed
        return pos
    raise _Malformed
