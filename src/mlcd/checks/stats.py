"""Column statistics of a dataset version, computed by DuckDB straight from its Parquet files.

The scans are planned for bounded memory (a dataset is out of core by design):
1. one pass with every cheap aggregate of every column (nulls; min, max, zeros, mean, std,
   skewness of numeric columns): each aggregate keeps a few numbers, however many rows;
2. one GROUP BY per column for the exact distinct count and most common value: a hash table of
   one column at a time, which DuckDB can spill to disk, instead of `count(DISTINCT)` and
   `mode()` of every column inline (which would hold every column's table at once). A column
   with few values (categories) gets every value's count, and its min and max, from it.
Quantiles and histograms are only for people (the profile report), not for checks, and cost
more than all of the above (`approx_quantile` keeps a t-digest per column: on 10M rows x 8
columns it took longer than pass 1 and 2 together), so they are computed only when asked for,
and can be added to a stored profile later (`add_distributions`).
Partition columns come from the manifest: their values and row counts are known per file.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcd.data.reader import quote as quote  # re-exported: the checks import it from here
from mlcd.errors import QueryError

if TYPE_CHECKING:
    import duckdb

    from mlcd.data.reader import DatasetReader

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
TOP_VALUES = 20  # value counts kept for a column with few distinct values (categories)
MAX_CATEGORIES = 1000
MEMORY_LIMIT = "700MB"
GROUPED_EXTREMES = ("string", "boolean", "temporal")  # min/max taken from the GROUP BY


@dataclass
class ColumnStats:
    name: str
    dtype: str
    kind: str  # numeric, string, boolean, temporal, other
    rows: int = 0
    nulls: int = 0
    zeros: int | None = None
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    skewness: float | None = None
    mode: Any = None
    mode_count: int | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    categories: dict[str, int] | None = None  # every value's count, when there are few
    histogram: dict[str, list[float]] | None = None  # {"edges": [...], "counts": [...]}
    # as a drift reference: its percentile edges, its decile edges, and its counts per
    # percentile bin; kept in the stored profile so later drift checks scan only new data
    drift_bins: dict[str, list[float]] | None = None

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def zero_fraction(self) -> float | None:
        return None if self.zeros is None or not self.rows else self.zeros / self.rows

    @property
    def mode_share(self) -> float | None:
        non_null = self.rows - self.nulls
        return None if self.mode_count is None or not non_null else self.mode_count / non_null

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.update(
            null_fraction=self.null_fraction,
            zero_fraction=self.zero_fraction,
            mode_share=self.mode_share,
        )
        return {k: _jsonable(v) for k, v in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):  # histogram edges and counts
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def kind_of(dtype: str) -> str:
    d = dtype.lower()
    if d.startswith("dictionary<"):  # e.g. a pandas Categorical: the kind of its values
        return kind_of(d.removeprefix("dictionary<values=").split(",")[0])
    if d.startswith(("list<", "large_list<", "fixed_size_list<", "struct<", "map<")):
        return "other"  # nested: `list<item: int64>` is not a number
    if d in ("bool", "boolean"):
        return "boolean"
    if any(t in d for t in ("int", "float", "double", "decimal", "real")):
        return "numeric"
    if any(t in d for t in ("string", "utf8", "varchar", "large_string")):
        return "string"
    if any(t in d for t in ("date", "time")):
        return "temporal"
    return "other"


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        yield con
    finally:
        con.close()


def source_sql(reader: DatasetReader, con: duckdb.DuckDBPyConnection) -> str:
    """A table expression over the version's data files (partition columns excluded)."""
    version = reader.version
    locations = reader.locations()  # verified before DuckDB reads them in place
    local = all(type(fs).__name__ == "LocalFileSystem" for fs, _ in locations)
    if version.format == "parquet" and local:
        paths = ", ".join("'" + p.replace("'", "''") + "'" for _, p in locations)
        return f"read_parquet([{paths}], union_by_name = true)"
    relation = con.from_arrow(reader.arrow_dataset())  # CSV, JSON, or a remote store
    relation.create_view("_mlcd_source")
    return "_mlcd_source"


def data_columns(reader: DatasetReader) -> list[tuple[str, str]]:
    return [(f.name, f.type) for f in reader.version.schema.fields]


def compute(
    reader: DatasetReader,
    columns: Sequence[str] | None = None,
    exact: bool = True,
    histograms: bool = False,
) -> dict[str, ColumnStats]:
    """Statistics of the selected columns (default: all, partition columns included)."""
    wanted = set(columns) if columns is not None else None
    data = [(n, t) for n, t in data_columns(reader) if wanted is None or n in wanted]
    stats: dict[str, ColumnStats] = {}
    if data:
        with connect() as con:
            src = source_sql(reader, con)
            stats.update(_first_pass(con, src, data, text_extremes=not exact))
            for name, _ in data:
                if exact:
                    _group_pass(con, src, stats[name])
            if histograms:
                _distributions(con, src, [stats[name] for name, _ in data])
    for key, type_name in reader.version.partitioning.items():
        if wanted is None or key in wanted:
            stats[key] = _partition_stats(reader, key, type_name)
    return stats


def _first_pass(
    con: duckdb.DuckDBPyConnection,
    src: str,
    columns: list[tuple[str, str]],
    text_extremes: bool,
) -> dict[str, ColumnStats]:
    """Nulls of every column; min, max, zeros, mean, std, skewness of the numeric ones.

    Min and max of strings (and other non-numeric columns) come from their GROUP BY, over one
    row per value instead of every row (comparing strings took a quarter of this pass), unless
    `text_extremes`.
    """
    exprs = ["count(*)"]
    layout: list[tuple[str, list[str]]] = []
    for name, dtype in columns:
        q = quote(name)
        kind = kind_of(dtype)
        parts = ["nulls"]
        exprs.append(f"count(*) - count({q})")
        if kind not in GROUPED_EXTREMES or text_extremes:
            parts += ["min", "max"]
            exprs += [f"min({q})", f"max({q})"]
        if kind == "numeric":
            parts += ["zeros", "mean", "std", "skewness"]
            exprs += [
                f"count_if({q} = 0)",
                f"avg({q}::DOUBLE)",
                f"stddev_samp({q}::DOUBLE)",
                f"skewness({q}::DOUBLE)",
            ]
        layout.append((name, parts))
    row = _one(con, f"SELECT {', '.join(exprs)} FROM {src}")
    rows = int(row[0])
    out: dict[str, ColumnStats] = {}
    i = 1
    for (name, parts), (_, dtype) in zip(layout, columns, strict=True):
        s = ColumnStats(name, dtype, kind_of(dtype), rows=rows)
        for part in parts:
            value = row[i]
            i += 1
            if part in ("mean", "std", "skewness"):
                value = None if value is None or not math.isfinite(value) else float(value)
            setattr(s, part, value)
        out[name] = s
    return out


def _group_pass(con: duckdb.DuckDBPyConnection, src: str, s: ColumnStats) -> None:
    """Exact distinct count and most common value; every value's count when they are few;
    min and max of a non-numeric column (over its values, not its rows)."""
    q = quote(s.name)
    grouped = f"SELECT {q} AS v, count(*) AS n FROM {src} WHERE {q} IS NOT NULL GROUP BY {q}"
    if s.kind == "numeric":
        row = _one(con, f"SELECT count(v), first(v ORDER BY n DESC, v), max(n) FROM ({grouped})")
        s.distinct, s.mode, s.mode_count = int(row[0]), row[1], row[2]
        return
    # likely categories: one scan fetches them all, when they are few
    pairs = _all(con, f"SELECT v, n FROM ({grouped}) ORDER BY n DESC, v LIMIT {MAX_CATEGORIES + 1}")
    if len(pairs) <= MAX_CATEGORIES:
        s.distinct = len(pairs)
        s.mode, s.mode_count = pairs[0] if pairs else (None, None)
        s.categories = {str(v): int(n) for v, n in pairs}
        if pairs and s.kind in GROUPED_EXTREMES:
            s.min, s.max = min(v for v, _ in pairs), max(v for v, _ in pairs)
        return
    row = _one(
        con,
        f"SELECT count(v), first(v ORDER BY n DESC, v), max(n), min(v), max(v) FROM ({grouped})",
    )
    s.distinct, s.mode, s.mode_count = int(row[0]), row[1], row[2]
    if s.kind in GROUPED_EXTREMES:
        s.min, s.max = row[3], row[4]


def add_distributions(reader: DatasetReader, stats: dict[str, ColumnStats]) -> None:
    """Add quantiles and histograms to the numeric columns of computed (or stored) stats."""
    numeric = [
        s
        for s in stats.values()
        if s.kind == "numeric" and s.name not in reader.version.partitioning
    ]
    if numeric:
        with connect() as con:
            _distributions(con, source_sql(reader, con), numeric)


def _distributions(
    con: duckdb.DuckDBPyConnection, src: str, columns: Sequence[ColumnStats]
) -> None:
    """Quantiles of every numeric column in one scan, then a histogram of each."""
    numeric = [s for s in columns if s.kind == "numeric"]
    if not numeric:
        return
    qs = ", ".join(str(x) for x in QUANTILES)
    row = _one(
        con,
        "SELECT "
        + ", ".join(f"approx_quantile({quote(s.name)}::DOUBLE, [{qs}])" for s in numeric)
        + f" FROM {src}",
    )
    for s, values in zip(numeric, row, strict=True):
        s.quantiles = {str(q): v for q, v in zip(QUANTILES, values or [], strict=False)}
        _histogram(con, src, s)


def _histogram(con: duckdb.DuckDBPyConnection, src: str, s: ColumnStats, bins: int = 20) -> None:
    """Equal-width bins between min and max (one projected scan of the column)."""
    if s.min is None or s.max is None:
        return
    lo, hi = float(s.min), float(s.max)
    width = (hi - lo) / bins or 1.0
    q = f"{quote(s.name)}::DOUBLE"
    rows = con.execute(
        f"SELECT least(floor(({q} - {lo!r}) / {width!r})::BIGINT, {bins - 1}) AS _mlcd_bin,"
        f" count(*) FROM {src} WHERE {q} IS NOT NULL GROUP BY _mlcd_bin ORDER BY _mlcd_bin"
    ).fetchall()
    counts = [0.0] * bins
    for b, n in rows:
        counts[max(0, min(bins - 1, int(b)))] += n
    s.histogram = {"edges": [lo + i * width for i in range(bins + 1)], "counts": counts}


def _partition_stats(reader: DatasetReader, key: str, type_name: str) -> ColumnStats:
    from mlcd.data.partitions import partition_value

    counts: Counter[Any] = Counter()
    for f in reader.files:
        counts[partition_value(f.partition[key], type_name)] += f.rows
    rows = sum(counts.values())
    nulls = counts.pop(None, 0)
    s = ColumnStats(key, type_name, kind_of(type_name), rows=rows, nulls=nulls)
    if counts:
        s.min, s.max = min(counts), max(counts)
        s.distinct = len(counts)
        s.mode, s.mode_count = counts.most_common(1)[0]
        if s.kind == "numeric":
            s.zeros = counts.get(0, 0)
            total = sum(counts.values())
            s.mean = sum(float(v) * n for v, n in counts.items()) / total
        if len(counts) <= MAX_CATEGORIES:
            s.categories = {str(v): n for v, n in counts.most_common()}
    return s


def _all(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    except duckdb.Error as exc:
        raise QueryError(f"statistics query failed: {str(exc).splitlines()[0]}") from None


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    import duckdb

    try:
        row = con.execute(sql).fetchone()
    except duckdb.Error as exc:
        raise QueryError(f"statistics query failed: {str(exc).splitlines()[0]}") from None
    assert row is not None
    return tuple(row)


def correlation(reader: DatasetReader, a: str, b: str, method: str = "pearson") -> float | None:
    """Pearson, or Spearman (Pearson of ranks, ties averaged) correlation of two numeric
    columns."""
    with connect() as con:
        src = source_sql(reader, con)
        qa, qb = quote(a), quote(b)
        if method == "spearman":
            # tied values share the average of their ranks: (first rank + last rank) / 2
            ra, rb = (
                f"(rank() OVER (ORDER BY {q}) + cume_dist() OVER (ORDER BY {q}) * count(*) OVER ())"
                for q in (qa, qb)
            )
            sql = (
                f"SELECT corr(ra, rb) FROM (SELECT {ra} AS ra, {rb} AS rb FROM {src}"
                f" WHERE {qa} IS NOT NULL AND {qb} IS NOT NULL)"
            )
        else:
            sql = f"SELECT corr({qa}::DOUBLE, {qb}::DOUBLE) FROM {src}"
        value = _one(con, sql)[0]
    return None if value is None or not math.isfinite(value) else float(value)


def count_where(reader: DatasetReader, condition: str) -> tuple[int, int]:
    """(rows where `condition` holds, all rows): custom SQL, allowed sets, regexes."""
    with connect() as con:
        src = source_sql(reader, con)
        row = _one(con, f"SELECT count_if(({condition})::BOOLEAN), count(*) FROM {src}")
    return int(row[0] or 0), int(row[1])


def bin_counts(reader: DatasetReader, column: str, edges: Sequence[float]) -> list[int]:
    """Counts of non-null values in the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    with connect() as con:
        src = source_sql(reader, con)
        q = f"{quote(column)}::DOUBLE"
        cases = []
        lower = None
        for edge in [*edges, None]:
            cond = []
            if lower is not None:
                cond.append(f"{q} > {lower!r}")
            if edge is not None:
                cond.append(f"{q} <= {edge!r}")
            cases.append(f"count_if({' AND '.join(cond) or 'TRUE'} AND {q} IS NOT NULL)")
            lower = edge
        row = _one(con, f"SELECT {', '.join(cases)} FROM {src}")
    return [int(x) for x in row]
