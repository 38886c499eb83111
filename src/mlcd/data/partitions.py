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

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_PARTITION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_INT = re.compile(r"-?\d{1,18}")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_partition(rel: str) -> dict[str, str]:
    """Hive-style `key=value/` folders of a relative path, in order."""
    part: dict[str, str] = {}
    for segment in rel.split("/")[:-1]:
        if m := _PARTITION.fullmatch(segment):
            part[m.group(1)] = unquote(m.group(2))
    return part


def partition_types(partitions: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Type each Hive key by its values: int64, float64, date32 or string (in that preference)."""
    values: dict[str, set[str]] = {}
    for part in partitions:
        for key, value in part.items():
            values.setdefault(key, set())
            if value != HIVE_NULL:
                values[key].add(value)
    return {key: _type_of(vals) for key, vals in values.items()}


def _type_of(values: set[str]) -> str:
    if values and all(_INT.fullmatch(v) for v in values):
        return "int64"
    if values and all(_FLOAT.fullmatch(v) for v in values):
        return "float64"
    if values and all(_DATE.fullmatch(v) for v in values):
        try:
            for v in values:
                date.fromisoformat(v)
        except ValueError:
            return "string"
        return "date32"
    return "string"


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
