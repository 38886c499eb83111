"""Hive partitions (`key=value/` folders): parsing paths and typing their values.

Pure Python on purpose: a re-snapshot that adds a partition types its keys without
importing pyarrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import unquote

from mlcd.errors import SourceError

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_PARTITION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_INT = re.compile(r"-?(0|[1-9]\d{0,18})")  # no leading zeros, no `+`; the range is checked
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT64 = range(-(2**63), 2**63)
_EXACT = 2**53  # integers a float64 holds exactly


def parse_partition(rel: str) -> dict[str, str]:
    """Hive-style `key=value/` folders of a relative path, in order; a key may appear once."""
    part: dict[str, str] = {}
    for segment in rel.split("/")[:-1]:
        if m := _PARTITION.fullmatch(segment):
            if m.group(1) in part:
                raise SourceError(
                    f"path {rel} names partition key {m.group(1)!r} twice",
                    hint="each key=value folder level needs its own key, e.g. year=2024/month=1/",
                )
            part[m.group(1)] = unquote(m.group(2))
    return part


def partition_types(partitions: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Type each Hive key by its values: int64, float64, date32 or string (in that preference).

    A key is typed only when no value changes in the process: each typed value prints back as
    the folder's text (`12`, `1.5`, `2024-01-31`; integers also in a float64 key, `1` beside
    `1.5`, when a float64 holds them exactly), so two folders never become one value. `01234`,
    `+1`, `-0`, `1.50`, `1e5` and integers beyond int64 keep their key a string.
    """
    values: dict[str, set[str]] = {}
    for part in partitions:
        for key, value in part.items():
            values.setdefault(key, set())
            if value != HIVE_NULL:
                values[key].add(value)
    return {key: _type_of(vals) for key, vals in values.items()}


def _type_of(values: set[str]) -> str:
    if not values:
        return "string"
    if all(_is_int(v) for v in values):
        return "int64"
    if all(_is_float(v) or (_is_int(v) and abs(int(v)) <= _EXACT) for v in values):
        # `1` and `1.0`, or `0.0` and `-0.0`, would be one value
        return "float64" if len({float(v) for v in values}) == len(values) else "string"
    if all(_is_date(v) for v in values):
        return "date32"
    return "string"


def _is_int(v: str) -> bool:
    return _INT.fullmatch(v) is not None and int(v) in _INT64 and v != "-0"


def _is_float(v: str) -> bool:
    # repr() is the shortest text that reads back as the same float: the canonical one
    return _FLOAT.fullmatch(v) is not None and repr(float(v)) == v


def _is_date(v: str) -> bool:
    if not _DATE.fullmatch(v):
        return False
    try:
        return date.fromisoformat(v).isoformat() == v
    except ValueError:
        return False


def partition_value(raw: str, type_name: str) -> Any:
    """The typed Python value of a raw folder value."""
    if raw == HIVE_NULL:
        return None
    if type_name == "int64":
        return int(raw)
    if type_name == "float64":
        return float(raw)
    if type_name == "date32":
        return date.fromisoformat(raw)
    return raw
