"""Declared data checks (`datasets.NAME.checks` in mlcd.yaml), parsed with their key paths.

- {column: amount, min: 0, max: 10000, max_null_fraction: 0.01, max_skew: 5}
- {column: customer_id, unique: true}
- {column: channel, in: [web, store, app]}
- {correlation: [amount, items], method: spearman, min: 0.1}
- {rows: [1000, null]}
- {sql: "amount >= 0", min_fraction: 0.999}
- {drift: {vs: parent, max_psi: 0.2, max_ks: 0.1}}
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlcd.errors import ConfigError

Severity = Literal["error", "warn"]


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    severity: Severity = "error"
    name: str | None = None


class ColumnCheck(_Check):
    column: str
    dtype: str | None = None
    min: float | str | None = None
    max: float | str | None = None
    unique: bool | None = None
    min_distinct: int | None = None
    max_distinct: int | None = None
    max_null_fraction: float | None = None
    max_zero_fraction: float | None = None
    max_mode_share: float | None = None
    mean: tuple[float | None, float | None] | None = None
    std: tuple[float | None, float | None] | None = None
    max_skew: float | None = None
    allowed: list[Any] | None = Field(default=None, alias="in")
    regex: str | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        """YAML reads `min: 2024-01-01` as a date: compare it as the profile's text does."""
        return str(value) if isinstance(value, date) else value


class CorrelationCheck(_Check):
    correlation: tuple[str, str]
    method: Literal["pearson", "spearman"] = "pearson"
    min: float | None = None
    max: float | None = None


class RowsCheck(_Check):
    rows: tuple[int | None, int | None]


class SqlCheck(_Check):
    sql: str
    min_fraction: float = 1.0


class DriftSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    vs: str = "parent"
    columns: list[str] | None = None
    max_psi: float | None = 0.2
    max_ks: float | None = None
    max_share_shift: float | None = None
    new_categories: bool = True  # False: a category unseen in the reference fails
    max_null_rate_change: float | None = None


class DriftCheck(_Check):
    drift: DriftSpec


DataCheck = ColumnCheck | CorrelationCheck | RowsCheck | SqlCheck | DriftCheck
_KINDS: list[tuple[str, type[_Check]]] = [
    ("column", ColumnCheck),
    ("correlation", CorrelationCheck),
    ("rows", RowsCheck),
    ("sql", SqlCheck),
    ("drift", DriftCheck),
]


def parse_checks(raw: list[dict[str, Any]], where: str) -> list[DataCheck]:
    """Parse a `checks:` list; a mistake is a ConfigError naming `where[i].key`."""
    checks: list[DataCheck] = []
    for i, item in enumerate(raw):
        path = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: expected a mapping such as {{column: x, min: 0}}")
        kind = next((cls for key, cls in _KINDS if key in item), None)
        if kind is None:
            raise ConfigError(
                f"{path}: a check needs one of column, correlation, rows, sql, drift",
                hint="e.g. {column: amount, min: 0}",
            )
        try:
            check = kind.model_validate(item)
        except ValidationError as exc:
            from mlcd.config import key_path

            err = exc.errors()[0]
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise ConfigError(f"{path}.{key_path(err['loc'])}: {msg}") from None
        if isinstance(check, ColumnCheck) and not check.model_fields_set - {
            "column",
            "severity",
            "name",
        }:
            raise ConfigError(
                f"{path}: a column check needs a bound, e.g. {{column: {check.column}, min: 0}}",
                hint="dtype, min, max, unique, in, regex, max_null_fraction, ... (see README)",
            )
        checks.append(check)  # type: ignore[arg-type]
    return checks
