"""Running declared data checks against a dataset version: one profile, then comparisons.

Every statistic comes from the version's profile (computed once by DuckDB, stored, reused);
only checks that need their own scan (correlation, allowed values, regex, custom SQL) run one.
A check on a missing column or of the wrong type fails with a message; it never raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlcd.checks.result import CheckResult
from mlcd.checks.spec import (
    ColumnCheck,
    CorrelationCheck,
    DataCheck,
    DriftCheck,
    RowsCheck,
    SqlCheck,
)
from mlcd.checks.stats import ColumnStats, correlation, count_where, quote
from mlcd.errors import MlcdError

if TYPE_CHECKING:
    from mlcd.data.reader import DatasetReader
    from mlcd.workspace import Workspace


def run_data_checks(
    ws: Workspace, reader: DatasetReader, checks: Sequence[DataCheck]
) -> list[CheckResult]:
    from mlcd.checks.profile import get_profile

    profile = get_profile(ws, reader)
    ds = reader.version.name
    results: list[CheckResult] = []
    for check in checks:
        try:
            if isinstance(check, ColumnCheck):
                results += _column(ds, check, profile, reader)
            elif isinstance(check, CorrelationCheck):
                results.append(_correlation(ds, check, profile, reader))
            elif isinstance(check, RowsCheck):
                results.append(_rows(ds, check, reader.version.rows))
            elif isinstance(check, SqlCheck):
                results.append(_sql(ds, check, reader))
            elif isinstance(check, DriftCheck):
                from mlcd.checks.drift import run_drift

                results += run_drift(ws, reader, check, profile)
        except MlcdError as exc:  # a query that cannot run is this check's failure
            results.append(
                CheckResult(_label(ds, check), False, message=exc.message, severity=check.severity)
            )
    return results


def _label(ds: str, check: DataCheck) -> str:
    if check.name:
        return f"{ds}.{check.name}"
    if isinstance(check, ColumnCheck):
        return f"{ds}.{check.column}"
    if isinstance(check, CorrelationCheck):
        return f"{ds}.correlation.{check.correlation[0]}.{check.correlation[1]}"
    if isinstance(check, RowsCheck):
        return f"{ds}.rows"
    if isinstance(check, SqlCheck):
        return f"{ds}.sql"
    return f"{ds}.drift"


def _bounded(
    name: str,
    value: Any,
    lo: Any,
    hi: Any,
    what: str,
    severity: str,
    unmeasured: str = "no non-null values",
) -> CheckResult:
    ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
    bound = [lo, hi]
    if value is None:
        message = f"{what} could not be measured ({unmeasured})"
    elif ok:
        message = f"{what} {_fmt(value)} within {_range(lo, hi)}"
    else:
        message = f"{what} {_fmt(value)} outside {_range(lo, hi)}"
    return CheckResult(name, ok, _plain(value), bound, message, severity)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _range(lo: Any, hi: Any) -> str:
    if lo is None:
        return f"<= {_fmt(hi)}"
    if hi is None:
        return f">= {_fmt(lo)}"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _column(
    ds: str, check: ColumnCheck, profile: dict[str, ColumnStats], reader: DatasetReader
) -> list[CheckResult]:
    base = f"{ds}.{check.column}"
    sev = check.severity
    s = profile.get(check.column)
    if s is None:
        return [
            CheckResult(
                f"{base}.exists",
                False,
                message=f"column {check.column!r} does not exist in {reader.version.ref}",
                diagnostics={"columns": sorted(profile)},
                severity=sev,
            )
        ]
    out: list[CheckResult] = []

    def numeric(label: str, fn: Callable[[], CheckResult]) -> None:
        if s.kind != "numeric":
            out.append(
                CheckResult(
                    f"{base}.{label}",
                    False,
                    message=f"column {check.column!r} is {s.dtype}; {label} needs a numeric column",
                    severity=sev,
                )
            )
        else:
            out.append(fn())

    if check.dtype is not None:
        ok = s.dtype.lower() == check.dtype.lower()
        out.append(
            CheckResult(
                f"{base}.dtype",
                ok,
                s.dtype,
                check.dtype,
                f"dtype is {s.dtype}, expected {check.dtype}",
                sev,
            )
        )
    if check.min is not None:
        out.append(_extreme(f"{base}.min", s, s.min, check.min, None, "minimum", sev))
    if check.max is not None:
        out.append(_extreme(f"{base}.max", s, s.max, None, check.max, "maximum", sev))
    if check.unique:
        non_null = s.rows - s.nulls
        ok = s.distinct == non_null
        out.append(
            CheckResult(
                f"{base}.unique",
                ok,
                s.distinct,
                non_null,
                f"{s.distinct:,} distinct values in {non_null:,} non-null rows"
                + ("" if ok else f": {non_null - (s.distinct or 0):,} duplicates"),
                sev,
            )
        )
    if check.min_distinct is not None or check.max_distinct is not None:
        out.append(
            _bounded(
                f"{base}.distinct",
                s.distinct,
                check.min_distinct,
                check.max_distinct,
                "distinct count",
                sev,
            )
        )
    if check.max_null_fraction is not None:
        out.append(
            _bounded(
                f"{base}.null_fraction",
                s.null_fraction,
                None,
                check.max_null_fraction,
                "null share",
                sev,
            )
        )
    if check.max_zero_fraction is not None:
        numeric(
            "zero_fraction",
            lambda: _bounded(
                f"{base}.zero_fraction",
                s.zero_fraction,
                None,
                check.max_zero_fraction,
                "zero share",
                sev,
            ),
        )
    if check.max_mode_share is not None:
        r = _bounded(
            f"{base}.mode_share",
            s.mode_share,
            None,
            check.max_mode_share,
            f"share of the most common value ({s.mode!r})",
            sev,
        )
        out.append(r)
    if check.mean is not None:
        lo_mean, hi_mean = check.mean
        numeric("mean", lambda: _bounded(f"{base}.mean", s.mean, lo_mean, hi_mean, "mean", sev))
    if check.std is not None:
        lo_std, hi_std = check.std
        numeric("std", lambda: _bounded(f"{base}.std", s.std, lo_std, hi_std, "std", sev))
    if check.max_skew is not None:
        skew = check.max_skew
        numeric(
            "skewness",
            lambda: _bounded(
                f"{base}.skewness",
                abs(s.skewness) if s.skewness is not None else None,
                None,
                skew,
                "|skewness|",
                sev,
                "the column is constant" if s.std == 0 else "fewer than 3 non-null values",
            ),
        )
    if check.allowed is not None:
        out.append(_allowed(base, check, s, reader))
    if check.regex is not None:
        out.append(_regex(base, check, s, reader))
    return out


def _extreme(
    name: str, s: ColumnStats, value: Any, lo: Any, hi: Any, what: str, severity: str
) -> CheckResult:
    """min/max against a bound of the column's kind: a number for a numeric column, text
    (e.g. an ISO date) otherwise. A fresh profile holds dates and decimals, a stored one
    their text, so both are brought to the bound's type first."""
    bound = lo if lo is not None else hi
    if isinstance(bound, str) != (s.kind != "numeric"):
        need = "a number" if s.kind == "numeric" else "text (e.g. an ISO date)"
        return CheckResult(
            name,
            False,
            _plain(value),
            [lo, hi],
            f"column {s.name!r} is {s.dtype}: its {what} bound must be {need}, got {bound!r}",
            severity,
        )
    if value is not None:
        value = float(value) if s.kind == "numeric" else str(value)
    return _bounded(name, value, lo, hi, what, severity)


def _allowed(base: str, check: ColumnCheck, s: ColumnStats, reader: DatasetReader) -> CheckResult:
    allowed = [str(v) for v in check.allowed or []]
    if s.categories is not None:  # the profile already has every value's count
        bad = {v: n for v, n in s.categories.items() if v not in allowed}
        n_bad = sum(bad.values())
        examples = sorted(bad, key=lambda v: -bad[v])[:5]
    else:
        q = quote(check.column)
        numbers = [v for v in check.allowed or [] if isinstance(v, int | float)]
        if (
            s.kind == "numeric"
            and len(numbers) == len(allowed)
            and all(map(math.isfinite, numbers))
        ):
            # as numbers: 1 and 1.0 are the same value (as text, a double 1 reads "1.0")
            values = ", ".join(repr(float(v)) for v in numbers) or "NULL"
            cond = f"{q} IS NOT NULL AND {q}::DOUBLE NOT IN ({values})"
        else:
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed) or "NULL"
            cond = f"{q} IS NOT NULL AND {q}::VARCHAR NOT IN ({values})"
        n_bad, _ = count_where(reader, cond)
        examples = []
    ok = n_bad == 0
    msg = "every value is allowed" if ok else f"{n_bad:,} rows hold other values"
    if examples:
        msg += f", e.g. {', '.join(map(repr, examples))}"
    return CheckResult(
        f"{base}.allowed", ok, n_bad, allowed, msg, check.severity, {"unexpected": examples}
    )


def _regex(base: str, check: ColumnCheck, s: ColumnStats, reader: DatasetReader) -> CheckResult:
    if s.kind != "string":
        return CheckResult(
            f"{base}.regex",
            False,
            message=f"column {check.column!r} is {s.dtype}; regex needs a string column",
            severity=check.severity,
        )
    pattern = (check.regex or "").replace("'", "''")
    q = quote(check.column)
    n_bad, _ = count_where(reader, f"{q} IS NOT NULL AND NOT regexp_full_match({q}, '{pattern}')")
    ok = n_bad == 0
    msg = "every value matches" if ok else f"{n_bad:,} values do not match {check.regex!r}"
    return CheckResult(f"{base}.regex", ok, n_bad, check.regex, msg, check.severity)


def _correlation(
    ds: str, check: CorrelationCheck, profile: dict[str, ColumnStats], reader: DatasetReader
) -> CheckResult:
    a, b = check.correlation
    name = check.name or f"correlation.{a}.{b}"
    for col in (a, b):
        s = profile.get(col)
        if s is None or s.kind != "numeric":
            why = "does not exist" if s is None else f"is {s.dtype}, not numeric"
            return CheckResult(
                f"{ds}.{name}", False, message=f"column {col!r} {why}", severity=check.severity
            )
    value = correlation(reader, a, b, check.method)
    return _bounded(
        f"{ds}.{name}",
        value,
        check.min,
        check.max,
        f"{check.method} correlation of {a} and {b}",
        check.severity,
    )


def _rows(ds: str, check: RowsCheck, rows: int) -> CheckResult:
    return _bounded(f"{ds}.{check.name or 'rows'}", rows, *check.rows, "row count", check.severity)


def _sql(ds: str, check: SqlCheck, reader: DatasetReader) -> CheckResult:
    holds, total = count_where(reader, check.sql)
    share = holds / total if total else 1.0
    ok = share >= check.min_fraction
    name = f"{ds}.{check.name or 'sql'}"
    msg = f"{check.sql!r} holds for {share:.4%} of {total:,} rows (needs {check.min_fraction:.2%})"
    return CheckResult(
        name, ok, share, check.min_fraction, msg, check.severity, {"rows_failing": total - holds}
    )
