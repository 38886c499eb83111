"""The metadata schema as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
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

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False, index=True),
    Column("dataset", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_id", String(67), nullable=False),
    Index("ix_run_inputs_dataset_version", "dataset", "version"),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("flavor", String(16), nullable=False),
    Column("artifact", String(67), nullable=False),  # tree blob of the artifact folder
    Column("files", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("signature", Text, nullable=False),  # JSON
    Column("example", String(67)),  # blob of the stored example input
    Column("onnx", String(67)),  # blob of the ONNX twin, if converted
    Column("onnx_parity", Float),  # max abs difference native vs ONNX on the example
    Column("onnx_serving", Integer, nullable=False),  # 1 when the twin agrees within tolerance
    Column("metrics", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("description", Text),
    Column("run_id", String(32)),
    Column("step", String(128)),
    Column("git", Text),
    Column("params", Text, nullable=False),
    Column("seed", BigInteger),
    Column("env_lock", String(67)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("model_id", "number", name="uq_model_version_number"),
)

model_datasets = Table(
    "model_datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False, index=True
    ),
    Column("dataset", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_id", String(67), nullable=False),
    Column("role", String(32), nullable=False),  # train, validation, test, input
    Index("ix_model_datasets_dataset_version", "dataset", "version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False, index=True),
    Column("alias", String(128), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(128), nullable=False),
    Column("reason", Text),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(32), nullable=False, index=True),
    Column("subject", String(255), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),
)

event_actions = Table(
    "event_actions",
    metadata,
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True),
    Column("action", Integer, primary_key=True),  # index of the action in `on:`
    Column("status", String(16), nullable=False),  # claimed, done, failed
    Column("claimed_by", String(255), nullable=False),  # host:pid
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
)

event_cursors = Table(
    "event_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("last_event_id", Integer, nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("content_id", String(67), primary_key=True),  # a profile is a function of content
    Column("blob", String(67), nullable=False),  # JSON of every column's statistics
    Column("created_at", DateTime(timezone=True), nullable=False),
)

check_runs = Table(
    "check_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(255), nullable=False, index=True),  # "sales@3", "churn@2"
    Column("kind", String(16), nullable=False),  # data, model
    Column("run_id", String(32)),
    Column("passed", Integer, nullable=False),
    Column("results", Text, nullable=False),  # JSON list of CheckResult
    Column("at", DateTime(timezone=True), nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),  # database_id: made once, by migration 0006
    Column("value", Text, nullable=False),
)
