"""The metadata schema as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("content_id", String(67), nullable=False, index=True),
    Column("parent", Integer),
    Column("format", String(16), nullable=False),
    Column("schema", Text, nullable=False),  # JSON: unified schema + per-file schema variants
    Column("partitioning", Text, nullable=False),  # JSON: {key: type}
    Column("rows", BigInteger, nullable=False),
    Column("files", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("message", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("dataset_id", "number", name="uq_dataset_version_number"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column("path", Text, nullable=False),
    Column("blob", String(67), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("partition", Text, nullable=False),  # JSON: {key: raw value from the folder name}
    Column("schema_id", String(16), nullable=False),
)
