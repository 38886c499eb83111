"""Drift between a version and a reference (its parent by default): PSI and Kolmogorov-Smirnov
for numeric columns, category share shift and new categories, null-rate change.

Both distributions are binned on the reference's quantiles: PSI over its deciles, KS over its
percentiles (an approximation of the exact statistic, to a 1% grid, that needs one scan).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mlcd.checks.result import CheckResult
from mlcd.checks.spec import DriftCheck
from mlcd.checks.stats import MAX_CATEGORIES, ColumnStats, bin_counts

if TYPE_CHECKING:
    from mlcd.data.reader import DatasetReader
    from mlcd.workspace import Workspace

EPSILON = 1e-4  # stands in for an empty bin, so PSI stays finite


def psi(expected: list[int], actual: list[int]) -> float:
    te, ta = sum(expected) or 1, sum(actual) or 1
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / te, EPSILON), max(a / ta, EPSILON)
        total += (pa - pe) * math.log(pa / pe)
    return total


def ks(expected: list[int], actual: list[int]) -> float:
    te, ta = sum(expected) or 1, sum(actual) or 1
    ce = ca = 0.0
    worst = 0.0
    for e, a in zip(expected, actual, strict=True):
        ce += e / te
        ca += a / ta
        worst = max(worst, abs(ce - ca))
    return worst


def _edges(reader: DatasetReader, column: str, n: int) -> list[float]:
    """The n-quantiles of a column, in order (equal values repeat: few distinct values)."""
    from mlcd.checks.stats import connect, quote, source_sql

    qs = ", ".join(str(i / n) for i in range(1, n))
    with connect() as con:
        # one thread: approx_quantile merges the digests of threads in whatever order they
        # finish, so the same data would give other edges, and a check could flip, run to run
        con.execute("SET threads = 1")
        src = source_sql(reader, con)
        row = con.execute(f"SELECT approx_quantile({quote(column)}::DOUBLE, [{qs}]) FROM {src}")
        values = (row.fetchone() or [None])[0] or []
    return sorted(float(v) for v in values if v is not None and math.isfinite(v))


def run_drift(
    ws: Workspace, reader: DatasetReader, check: DriftCheck, profile: dict[str, ColumnStats]
) -> list[CheckResult]:
    from mlcd.checks.profile import get_profile

    spec = check.drift
    version = reader.version
    base = f"{version.name}.drift"
    if spec.vs == "parent":
        if version.parent is None:
            return [
                CheckResult(
                    base,
                    True,
                    message=f"{version.ref} has no parent: nothing to compare",
                    severity=check.severity,
                )
            ]
        ref_name = f"{version.name}@{version.parent}"
    else:
        ref_name = spec.vs
    ref_reader = ws.load(ref_name)
    ref_profile = get_profile(ws, ref_reader)
    before = {c: s.drift_bins for c, s in ref_profile.items()}
    columns = spec.columns or [c for c in profile if c in ref_profile]
    out: list[CheckResult] = []
    sev = check.severity
    for col in columns:
        cur, ref = profile.get(col), ref_profile.get(col)
        name = f"{base}.{col}"
        if cur is None or ref is None:
            where = version.ref if cur is None else ref_reader.version.ref
            out.append(
                CheckResult(
                    name, False, message=f"column {col!r} is missing from {where}", severity=sev
                )
            )
            continue
        if cur.kind != ref.kind:
            out.append(
                CheckResult(
                    name,
                    False,
                    message=f"column {col!r} is {cur.dtype} in {version.ref}"
                    f" but {ref.dtype} in {ref_reader.version.ref}: nothing to compare",
                    severity=sev,
                )
            )
            continue
        measured = len(out)
        if spec.max_null_rate_change is not None:
            change = abs(cur.null_fraction - ref.null_fraction)
            out.append(
                CheckResult(
                    f"{name}.null_rate",
                    change <= spec.max_null_rate_change,
                    change,
                    spec.max_null_rate_change,
                    f"null share {ref.null_fraction:.2%} -> {cur.null_fraction:.2%}",
                    sev,
                )
            )
        if cur.kind == "numeric" and ref.kind == "numeric" and col not in version.partitioning:
            out += _numeric(name, col, reader, ref_reader, ref, check)
        elif cur.categories is not None and ref.categories is not None:
            out += _categorical(name, cur, ref, check)
        if spec.columns is not None and len(out) == measured:  # asked for, and nothing to say
            out.append(
                CheckResult(
                    name,
                    False,
                    message=f"column {col!r} ({cur.dtype}) has more than {MAX_CATEGORIES} values"
                    " and is not numeric: no distribution to compare",
                    severity=sev,
                )
            )
    if any(s.drift_bins != before.get(c) for c, s in ref_profile.items()):
        from mlcd.checks.profile import store_profile

        # the reference's bins are kept with its profile: later checks scan only new data
        store_profile(ws, ref_reader.version.content_id, ref_profile)
    return out


def reference_bins(ref_reader: DatasetReader, ref: ColumnStats) -> dict[str, list[float]]:
    """The reference's percentile and decile edges and its counts per percentile bin,
    computed on first use and then read from its stored profile."""
    if ref.drift_bins is None:
        percentiles = _edges(ref_reader, ref.name, 100)
        edges = sorted(set(percentiles))  # a column with few values has fewer bins
        deciles = sorted({percentiles[i] for i in range(9, len(percentiles), 10)})
        counts = bin_counts(ref_reader, ref.name, edges)
        ref.drift_bins = {"edges": edges, "deciles": deciles, "counts": [float(c) for c in counts]}
    return ref.drift_bins


def _coarsen(edges: list[float], counts: list[int], keep: list[float]) -> list[int]:
    """Counts per percentile bin merged into bins that end at the `keep` edges (deciles)."""
    marks = set(keep)
    merged: list[int] = []
    running = 0
    for upper, n in zip([*edges, None], counts, strict=True):
        running += n
        if upper is None or upper in marks:
            merged.append(running)
            running = 0
    return merged


def _numeric(
    name: str,
    col: str,
    reader: DatasetReader,
    ref_reader: DatasetReader,
    ref: ColumnStats,
    check: DriftCheck,
) -> list[CheckResult]:
    spec = check.drift
    out = []
    bins = reference_bins(ref_reader, ref)
    edges = bins["edges"]
    ref_counts = [int(c) for c in bins["counts"]]
    cur_counts = bin_counts(reader, col, edges)  # the one scan: the current version's column
    if spec.max_psi is not None:
        e = _coarsen(edges, ref_counts, bins["deciles"])
        a = _coarsen(edges, cur_counts, bins["deciles"])
        value = psi(e, a)
        out.append(
            CheckResult(
                f"{name}.psi",
                value <= spec.max_psi,
                value,
                spec.max_psi,
                f"PSI {value:.4f} (bound {spec.max_psi})",
                check.severity,
                {"edges": bins["deciles"], "reference": e, "current": a},
            )
        )
    if spec.max_ks is not None:
        value = ks(ref_counts, cur_counts)
        out.append(
            CheckResult(
                f"{name}.ks",
                value <= spec.max_ks,
                value,
                spec.max_ks,
                f"KS {value:.4f} (bound {spec.max_ks})",
                check.severity,
            )
        )
    return out


def _categorical(
    name: str, cur: ColumnStats, ref: ColumnStats, check: DriftCheck
) -> list[CheckResult]:
    spec = check.drift
    assert cur.categories is not None and ref.categories is not None
    out = []
    tc, tr = sum(cur.categories.values()) or 1, sum(ref.categories.values()) or 1
    if spec.max_share_shift is not None:
        shifts = {
            k: abs(cur.categories.get(k, 0) / tc - ref.categories.get(k, 0) / tr)
            for k in cur.categories.keys() | ref.categories.keys()
        }
        worst = max(shifts, key=lambda k: shifts[k]) if shifts else None
        value = shifts[worst] if worst is not None else 0.0
        out.append(
            CheckResult(
                f"{name}.share_shift",
                value <= spec.max_share_shift,
                value,
                spec.max_share_shift,
                f"largest share shift {value:.2%} ({worst!r})",
                check.severity,
            )
        )
    new = sorted(set(cur.categories) - set(ref.categories))
    if not spec.new_categories:
        out.append(
            CheckResult(
                f"{name}.new_categories",
                not new,
                new,
                [],
                f"new categories: {', '.join(map(repr, new[:10]))}" if new else "no new categories",
                check.severity,
            )
        )
    return out
