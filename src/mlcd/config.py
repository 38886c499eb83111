"""mlcd.yaml, parsed into pydantic models; errors name the key path that is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlcd.errors import ConfigError, InvalidNameError
from mlcd.names import validate_name

CONFIG_FILE = "mlcd.yaml"
DB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")


def is_database_url(text: str) -> bool:
    """True for SQLAlchemy URLs of a database (`sqlite:///ops.db`, `postgresql+psycopg://...`)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.split("+")[0] in DB_SCHEMES


class _Strict(BaseModel):
    # defer_build: the validation schema is built only when a mlcd.yaml is validated, not
    # when a cached, already validated one is loaded (see load_config)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DatasetConfig(_Strict):
    """A dataset: where `mlcd data snapshot NAME` reads from when no source is given."""

    source: str | None = None
    query: str | None = None
    table: str | None = None
    checks: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def _source_is_path_or_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a path or a database URL, got an empty string")
        return value

    @model_validator(mode="after")
    def _query_needs_database(self) -> DatasetConfig:
        if (self.query or self.table) and not (self.source and is_database_url(self.source)):
            raise ValueError("query/table need a database URL as source (e.g. sqlite:///ops.db)")
        if self.query and self.table:
            raise ValueError("give either query or table, not both")
        return self


class ModelConfig(_Strict):
    """Register a step's output as a model version after each successful execution."""

    name: str
    output: str | None = None  # which output holds the artifact (default: the only one)
    flavor: str | None = None
    example: str | None = None  # a .parquet/.csv/.npy file of input rows
    datasets: dict[str, str] = Field(default_factory=dict)  # dataset name -> role
    trust: list[str] = Field(default_factory=list)
    description: str | None = None
    checks: list[str] = Field(default_factory=list)  # run after registration
    validation: str | None = None  # a .parquet/.csv of held-out rows for the checks
    target: str | None = None  # its label column

    @field_validator("name")
    @classmethod
    def _valid_model_name(cls, value: str) -> str:
        return _name(value, "model")


class StepConfig(_Strict):
    """A pipeline step: a command or `module:function`, what it reads, and what it writes."""

    run: str
    inputs: list[str] = Field(default_factory=list)
    params: list[str] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    metrics: str | None = None
    deps: list[str] = Field(default_factory=list)
    model: ModelConfig | None = None

    @field_validator("run")
    @classmethod
    def _run_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a shell command or module:function, got an empty string")
        return value


class MlcdConfig(_Strict):
    """The whole of mlcd.yaml. Sections of later features are kept as plain mappings for now."""

    project: str
    seed: int = 0
    store: str = ".mlcd/objects"
    metadata: str = "sqlite:///.mlcd/mlcd.db"
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    steps: dict[str, StepConfig] = Field(default_factory=dict)
    release: dict[str, Any] = Field(default_factory=dict)
    on: dict[str, Any] = Field(default_factory=dict)

    @field_validator("project")
    @classmethod
    def _valid_project(cls, value: str) -> str:
        return _name(value, "project")

    @field_validator("steps")
    @classmethod
    def _valid_step_names(cls, value: dict[str, StepConfig]) -> dict[str, StepConfig]:
        for name in value:
            _name(name, "step")
        return value

    @field_validator("datasets")
    @classmethod
    def _valid_dataset_names(cls, value: dict[str, DatasetConfig]) -> dict[str, DatasetConfig]:
        for name in value:
            _name(name, "dataset")
        return value


def _name(value: str, kind: str) -> str:
    try:
        return validate_name(value, kind)
    except InvalidNameError as exc:  # pydantic reports ValueErrors with their key path
        raise ValueError(exc.message) from None


def load_config(path: Path) -> MlcdConfig:
    """Read and validate mlcd.yaml; every problem becomes one ConfigError with its key path."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(
            f"{path.name}{line} is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping of keys, got {type(raw).__name__}")
    if True in raw:  # YAML 1.1 reads a bare `on:` key as the boolean true
        raw["on"] = raw.pop(True)
    try:
        return MlcdConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path.name, exc), hint=f"fix {path.name} and retry") from None


def load_config_cached(path: Path, cache: Path) -> MlcdConfig:
    """load_config, validating each content of mlcd.yaml once.

    Building pydantic's validators costs ~60 ms, a fifth of a command people run in loops
    (a no-op `mlcd run`); a config already validated is rebuilt from its cached dump instead.
    The cache key covers the file's bytes and the models' fields, so any change revalidates.
    """
    from blake3 import blake3

    from mlcd import jsoncache

    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    key = blake3(text + _fields_signature().encode()).hexdigest()
    cached = jsoncache.read(cache, key)
    if cached is not None:
        try:
            return _construct(cached)
        except (KeyError, TypeError, AttributeError):
            pass  # a cache from another layout: validate again
    config = load_config(path)
    jsoncache.write(cache, key, config.model_dump(mode="json"))
    return config


def _fields_signature() -> str:
    models = (MlcdConfig, DatasetConfig, StepConfig, ModelConfig)
    return ";".join(f"{m.__name__}:{','.join(m.model_fields)}" for m in models)


def _construct(raw: dict[str, Any]) -> MlcdConfig:
    datasets = {k: DatasetConfig.model_construct(**v) for k, v in raw["datasets"].items()}
    steps = {}
    for name, step in raw["steps"].items():
        model = step.get("model")
        step = {**step, "model": ModelConfig.model_construct(**model) if model else None}
        steps[name] = StepConfig.model_construct(**step)
    return MlcdConfig.model_construct(**{**raw, "datasets": datasets, "steps": steps})


def key_path(loc: tuple[int | str, ...]) -> str:
    """`datasets.sales.checks[0].min`: list positions in brackets, as people write them."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(filename: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = key_path(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}")
    return f"{filename}: " + "; ".join(lines)
