"""What a dataset version is: its files, partitions, schema and content id (domain entities)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blake3 import blake3

from mlcd.meta.db import parse_datetime

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: where it sat in the source, its blob, and what it holds."""

    path: str
    blob: str
    size: int
    rows: int
    partition: dict[str, str] = field(default_factory=dict)
    schema_id: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class SchemaInfo:
    """The unified schema of a version, and each distinct file schema (for evolution)."""

    fields: tuple[Field, ...]
    arrow: str  # base64 Arrow IPC of the unified schema (exact types, for readers)
    variants: dict[str, str] = field(default_factory=dict)  # schema_id -> base64 Arrow IPC

    def to_json(self) -> str:
        return json.dumps(
            {
                "fields": [[f.name, f.type, f.nullable] for f in self.fields],
                "arrow": self.arrow,
                "variants": self.variants,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SchemaInfo:
        raw = json.loads(text)
        return cls(
            fields=tuple(Field(n, t, nl) for n, t, nl in raw["fields"]),
            arrow=raw["arrow"],
            variants=raw.get("variants", {}),
        )

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable dataset version `name@number`. `files` is empty unless asked for."""

    name: str
    number: int
    content_id: str
    parent: int | None
    format: str
    schema: SchemaInfo
    partitioning: dict[str, str]
    rows: int
    file_count: int
    bytes: int
    source: str
    message: str | None
    created_at: datetime
    created_by: str
    files: tuple[FileEntry, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DatasetVersion:
        """Build from a `dataset_versions` row joined with the dataset's `name`."""
        created = parse_datetime(row["created_at"])  # text from sqlite3, aware from PostgreSQL
        assert created is not None
        return cls(
            name=row["name"],
            number=row["number"],
            content_id=row["content_id"],
            parent=row["parent"],
            format=row["format"],
            schema=SchemaInfo.from_json(row["schema"]),
            partitioning=json.loads(row["partitioning"]),
            rows=row["rows"],
            file_count=row["files"],
            bytes=row["bytes"],
            source=row["source"],
            message=row["message"],
            created_at=created,
            created_by=row["created_by"],
        )

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.number}"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what `--json` prints)."""
        return {
            "name": self.name,
            "version": self.number,
            "ref": self.ref,
            "content_id": self.content_id,
            "parent": self.parent,
            "format": self.format,
            "rows": self.rows,
            "files": self.file_count,
            "bytes": self.bytes,
            "partitioning": self.partitioning,
            "schema": [
                {"name": f.name, "type": f.type, "nullable": f.nullable} for f in self.schema.fields
            ],
            "schema_variants": len(self.schema.variants),
            "source": self.source,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def content_id(fmt: str, files: Iterable[FileEntry]) -> str:
    """Hash of what defines a version's content: its format and each (path, blob), by path."""
    payload = json.dumps([fmt, sorted([f.path, f.blob] for f in files)], separators=(",", ":"))
    return "b3:" + blake3(payload.encode()).hexdigest()
