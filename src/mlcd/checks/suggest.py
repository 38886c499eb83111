"""Proposed checks from a profile: bounds a person can read and edit, like a data-quality
tool's profiler proposing expectations. Generous margins: they should pass on this version
and catch a real change, not every wobble."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from mlcd.checks.stats import ColumnStats


def _round(value: float, up: bool = True) -> float:
    """Three significant digits, rounded away from the data: a lower bound down, an upper
    bound up (plain rounding could put a bound past the value it was derived from)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    exact = Decimal(repr(value))
    step = Decimal(1).scaleb(exact.adjusted() - 2)
    return float(exact.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR))


def suggest(profile: dict[str, ColumnStats], rows: int) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [{"rows": [max(0, int(rows * 0.5)), int(rows * 2) or None]}]
    for name, s in profile.items():
        check: dict[str, Any] = {"column": name, "dtype": s.dtype}
        check["max_null_fraction"] = _round(min(1.0, s.null_fraction * 2 + 0.01))
        non_null = s.rows - s.nulls
        discrete = s.kind == "string" or "int" in s.dtype.lower()
        if discrete and s.distinct is not None and non_null > 1 and s.distinct == non_null:
            check["unique"] = True
        if s.kind == "numeric" and s.min is not None and s.max is not None:
            span = float(s.max) - float(s.min)
            check["min"] = _round(float(s.min) - 0.1 * abs(span), up=False)
            check["max"] = _round(float(s.max) + 0.1 * abs(span))
            if s.zero_fraction is not None:
                check["max_zero_fraction"] = _round(min(1.0, s.zero_fraction * 2 + 0.01))
            if s.skewness is not None:
                check["max_skew"] = _round(abs(s.skewness) * 1.5 + 1)
        elif s.categories is not None and len(s.categories) <= 50:
            check["in"] = sorted(s.categories)
        checks.append(check)
    checks.append({"drift": {"vs": "parent", "max_psi": 0.2}})
    return checks
