"""The validation schema of mlcd.yaml (pydantic): used only when a file's content is new.

`mlcd.config` turns a validated document into plain frozen dataclasses; commands whose
mlcd.yaml was validated before never import this module, nor pydantic (~45 ms).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from mlcd.config import is_database_url
from mlcd.errors import InvalidNameError
from mlcd.names import validate_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    seed: StrictInt = 0  # `seed: true` is a mistake, not 1
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
