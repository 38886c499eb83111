"""The metadata schema as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
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

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # running, succeeded, failed, interrupted
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("command", Text, nullable=False),
    Column("targets", Text, nullable=False),  # JSON list of requested steps
    Column("params", Text, nullable=False),  # JSON: every param after --set overrides
    Column("seed", BigInteger, nullable=False),
    Column("env", Text, nullable=False),  # JSON: mlcd.pipeline.env.Environment
    Column("env_lock", String(67), nullable=False),
    Column("git", Text),  # JSON: mlcd.pipeline.git.GitInfo, NULL outside git
    Column("inputs", Text, nullable=False),  # JSON: dataset name -> pinned ref + content id
    Column("created_by", String(128), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("error", Text),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False, index=True),
    Column("step", String(128), nullable=False),
    Column("key", String(67), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # succeeded, cached, failed, skipped, ...
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration", Float),
    Column("outputs", Text, nullable=False),  # JSON: output name -> {path, kind, blob}
    Column("metrics", Text, nullable=False),  # JSON: name -> number
    Column("logged", Text, nullable=False),  # JSON: log_metric/log_param records
    Column("stdout", String(67)),
    Column("stderr", String(67)),
    Column("error", Text),
    UniqueConstraint("run_id", "step", name="uq_run_step"),
)

step_cache = Table(
    "step_cache",
    metadata,
    Column("key", String(67), primary_key=True),
    Column("step", String(128), nullable=False),
    Column("outputs", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
