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
    reader = _Reader(buf)
    rows: int | None = None
    schema = b""
    arrow = b""
    writer = b""
    field = 0
    while True:
        field, kind = reader.field_header(field)
        if kind == _STOP:
            break
        start = reader.pos
        if field == 3 and kind == _I64:
            rows = reader.zigzag()
        elif field == 5 and kind == _LIST:
            arrow = _arrow_schema(reader)
        elif field == 6 and kind == _BINARY:
            writer = reader.binary()
        else:
            reader.skip(kind)
            if field == 2:
                schema = buf[start : reader.pos]
    if rows is None or rows < 0 or not schema:
        raise _Malformed
    hasher = blake3()
    for part in (schema, arrow, writer):  # length-prefixed: the parts hold any bytes
        hasher.update(len(part).to_bytes(8, "little") + part)
    return Footer(rows, hasher.hexdigest()[:32])


def _arrow_schema(reader: _Reader) -> bytes:
    """The value of `ARROW:schema` in a list<KeyValue{1: key, 2: value}>, or b''."""
    size, kind = reader.list_header()
    if size and kind != _STRUCT:
        raise _Malformed
    found = b""
    for _ in range(size):
        key = value = b""
        field = 0
        while True:
            field, ftype = reader.field_header(field)
            if ftype == _STOP:
                break
            if ftype == _BINARY and field in (1, 2):
                data = reader.binary()
                key, value = (data, value) if field == 1 else (key, data)
            else:
                reader.skip(ftype)
        if key == _ARROW_SCHEMA:
            found = value
    return found


class _Reader:
    """A cursor over compact-protocol bytes; reads past the end raise IndexError."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def byte(self) -> int:
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Malformed

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def field_header(self, last: int) -> tuple[int, int]:
        b = self.byte()
        kind = b & 0x0F
        if kind == _STOP:
            return last, _STOP
        delta = b >> 4
        return (last + delta if delta else self.zigzag()), kind

    def list_header(self) -> tuple[int, int]:
        b = self.byte()
        size = b >> 4
        if size == 15:
            size = self.varint()
        return size, b & 0x0F

    def binary(self) -> bytes:
        n = self.varint()
        end = self.pos + n
        if end > len(self.buf):
            raise _Malformed
        data = self.buf[self.pos : end]
        self.pos = end
        return data

    def skip(self, kind: int) -> None:
        if kind in (_TRUE, _FALSE):
            return  # a struct field's boolean lives in its header
        if kind in (_I16, _I32, _I64):
            self.varint()
        elif kind in _FIXED:
            self.pos += _FIXED[kind]
        elif kind == _BINARY:
            n = (
                self.varint()
            )  # read before `self.pos` is: `pos += varint()` would add to the old one
            self.pos += n
        elif kind in (_LIST, _SET):
            size, elem = self.list_header()
            for _ in range(size):
                self._skip_element(elem)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self._skip_element(types >> 4)
                    self._skip_element(types & 0x0F)
        elif kind == _STRUCT:
            field = 0
            while True:
                field, ftype = self.field_header(field)
                if ftype == _STOP:
                    return
                self.skip(ftype)
        else:
            raise _Malformed
        if self.pos > len(self.buf):
            raise _Malformed

    def _skip_element(self, kind: int) -> None:
        if kind in (_TRUE, _FALSE):
            self.pos += 1  # inside a list, a boolean is one byte of its own
        else:
            self.skip(kind)
