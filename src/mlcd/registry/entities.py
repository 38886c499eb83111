"""What a model version is: artifact, flavor, signature, metrics, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DatasetUse:
    """A dataset version a model was made from, and in which role."""

    dataset: str
    version: int
    content_id: str
    role: str = "input"  # train, validation, test, input

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


@dataclass(frozen=True)
class ModelVersion:
    """An immutable model version `name@number`."""

    name: str
    number: int
    flavor: str
    artifact: str  # tree blob of the artifact folder
    files: int
    bytes: int
    signature: dict[str, Any]
    example: str | None
    onnx: str | None
    onnx_parity: float | None
    onnx_serving: bool
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str | None
    run_id: str | None
    step: str | None
    git: dict[str, Any] | None
    params: dict[str, Any]
    seed: int | None
    env_lock: str | None
    created_at: datetime
    created_by: str
    datasets: tuple[DatasetUse, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.number}"

    @property
    def trusted_types(self) -> list[str]:
        """Types the registering user vouched for (skops refuses them by default)."""
        return list(self.signature.get("trusted_types", []))

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.update(
            ref=self.ref,
            created_at=self.created_at.isoformat(),
            datasets=[{**d.__dict__, "ref": d.ref} for d in self.datasets],
            aliases=list(self.aliases),
        )
        return data


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: from which version to which, when, by whom, why."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    at: datetime
    by: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: int
    versions: int
    aliases: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None
