"""Benchmark mlcd's data checks against Great Expectations, pandera and hand-written DuckDB.

    python bench/checks.py [--rows 10000000] [--files 10] [--repeat 3] [--no-write]

Run it with the project's Python (the venv that has mlcd installed). It:

1. creates `bench/.venv-ge` and `bench/.venv-pandera` (if missing) and pip-installs
   `great-expectations` / `pandera[pandas]` (+ pyarrow) there: the peers are never
   dependencies of mlcd and never share its packages;
2. generates `--rows` rows x 12 columns of Parquet in `--files` files under
   `bench/.work/checks/data` once (a marker says what was generated): 8 numeric columns with
   nulls and zeros (floats and integers, one with ~all-distinct values) and 4 categorical ones
   (3 to 200 values);
3. makes an mlcd workspace beside it with the checks declared in `mlcd.yaml`, and snapshots
   the data once (not timed);
4. runs the same set of checks with every tool, each as its own process, tools interleaved,
   `--repeat` rounds: per numeric column min, max, null share, distinct count, most common
   value, zero share, mean, std, skewness; one Pearson correlation; an allowed set for each
   categorical column. Bounds are loose: on this clean data every check passes, and each tool
   must report every check it can express (a run that misses or fails one stops the bench);
5. measures wall time (fork to reap) and peak RSS (`ru_maxrss` from `os.wait4`) of each
   process, forked by a tiny launcher so the RSS is the tool's own (see LAUNCHER); each
   process also reports the time of its check work alone, without interpreter start-up and
   imports ("core");
6. prints a table and writes the `## Checks (bench/checks.py)` section of `bench/RESULTS.md`
   (other sections of that file are kept).

mlcd runs on a fresh profile every time (the stored profile is deleted before each run, so
the figure is the real cost: every statistic computed by DuckDB), through the Python API
(`Workspace.check_data`) and through the CLI (`mlcd check data --json`); one more run with the
profile already stored shows what a second check of the same version costs.

The role commands (`gen`, `run TOOL`) are what the benchmark starts in child processes, with
the interpreter of each tool's own venv; they import only the standard library at the top.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import quiet, rmtree, write_section

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "checks"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Checks (bench/checks.py)"
DATA_FORMAT = 1  # bump when the generated data changes, so old files are regenerated
DATASET = "bench"
PEERS = {
    "ge": (HERE / ".venv-ge", ["great-expectations", "pyarrow"]),
    "pandera": (HERE / ".venv-pandera", ["pandera[pandas]", "pyarrow"]),
}

# targets from the issue
VS_GE = 12.0  # mlcd at least 12x faster than Great Expectations
VS_PANDERA = 4.0  # ... and 4x faster than pandera
VS_DUCKDB = 1.3  # ... and within 1.3x of a hand-written DuckDB script
RSS_MB = 1024

# -- the data and the checks -----------------------------------------------------------------

CHANNEL = ["web", "app", "store"]
COUNTRY = [f"C{i:02d}" for i in range(30)]
SEGMENT = ["consumer", "small", "mid", "enterprise", "public", "education", "nonprofit", "partner"]
PRODUCT = [f"P-{i:04d}" for i in range(200)]
CATEGORICAL = {"channel": CHANNEL, "country": COUNTRY, "segment": SEGMENT, "product": PRODUCT}


@dataclass(frozen=True)
class Bounds:
    """What the checks of one numeric column allow (loose: the clean data passes them all)."""

    lo: float  # every value >= lo (the column's minimum)
    hi: float  # every value <= hi (the column's maximum)
    nulls: float  # max share of nulls
    zeros: float  # max share of zeros
    distinct: tuple[float, float]  # distinct count (a share of the rows for `score`)
    modes: tuple[float, ...]  # the most common value is one of these (GE, pandera, DuckDB)
    mode_share: float  # max share of the most common value (mlcd, pandera, DuckDB)
    mean: tuple[float, float]
    std: tuple[float, float]
    skew: float  # max |skewness|


AGES = tuple(float(a) for a in range(18, 91))
NUMERIC: dict[str, Bounds] = {
    "amount": Bounds(0, 2e4, 0.03, 0.07, (1e3, 2e5), (0.0,), 0.1, (25, 40), (30, 60), 10),
    "price": Bounds(-100, 300, 0.02, 0.02, (1e3, 5e4), (0.0,), 0.05, (90, 110), (10, 25), 3),
    "quantity": Bounds(0, 30, 0.04, 0.07, (10, 30), (2.0, 3.0), 0.3, (2.5, 3.5), (1.4, 2), 1.5),
    "discount": Bounds(0, 0.5, 0.06, 0.45, (400, 600), (0.0,), 0.5, (0.1, 0.2), (0.1, 0.25), 1.5),
    "score": Bounds(0, 1, 0.02, 0.03, (0.9, 1.0), (0.0,), 0.05, (0.45, 0.55), (0.25, 0.35), 0.5),
    "age": Bounds(0, 90, 0.03, 0.02, (70, 80), (0.0, *AGES), 0.05, (45, 60), (15, 30), 1),
    "balance": Bounds(-200, 4e4, 0.03, 0.04, (1e3, 3e5), (0.0,), 0.1, (50, 80), (60, 120), 10),
    "visits": Bounds(0, 200, 0.05, 0.25, (30, 120), (0.0,), 0.3, (3.5, 4.5), (3.5, 5.5), 3),
}
CORRELATION = ("amount", "balance", 0.8)  # Pearson correlation >= 0.8
KINDS = ("min", "max", "null_share", "distinct", "mode", "zero_share", "mean", "std", "skew")


def all_checks() -> list[str]:
    """Every check of the set, by a name each tool's results are mapped to."""
    a, b, _ = CORRELATION
    return [
        *(f"{col}.{kind}" for col in NUMERIC for kind in KINDS),
        f"correlation.{a}.{b}",
        *(f"{col}.allowed" for col in CATEGORICAL),
    ]


def distinct_range(bounds: Bounds, rows: int) -> tuple[int, int]:
    lo, hi = bounds.distinct
    if hi <= 1:  # ~every value distinct: a share of the rows
        return int(lo * rows), math.ceil(hi * rows)
    return int(lo), int(hi)


def gen(out: Path, rows: int, files: int) -> None:
    """The data: `files` Parquet files of `rows / files` rows each (role `gen`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    per_file = rows // files

    def holes(rng: Any, values: Any, nulls: float, zeros: float) -> Any:
        values = np.where(rng.random(len(values)) < zeros, 0, values)
        return pa.array(values, mask=rng.random(len(values)) < nulls)

    def pick(rng: Any, n: int, values: list[str], p: list[float] | None = None) -> Any:
        idx = pa.array(rng.choice(len(values), n, p=p).astype(np.int32))
        return pa.DictionaryArray.from_arrays(idx, pa.array(values)).cast(pa.string())

    for i in range(files):
        n = per_file if i < files - 1 else rows - per_file * (files - 1)
        rng = np.random.default_rng(i)
        amount = np.round(rng.lognormal(3, 1, n), 2)
        columns = {
            "amount": holes(rng, amount, 0.02, 0.05),
            "price": holes(rng, np.round(rng.normal(100, 15, n), 2), 0.01, 0.01),
            "quantity": holes(rng, rng.poisson(3, n), 0.03, 0.0),
            "discount": holes(rng, np.round(rng.uniform(0, 0.5, n), 3), 0.05, 0.4),
            "score": holes(rng, rng.random(n), 0.01, 0.02),
            "age": holes(rng, rng.integers(18, 91, n), 0.02, 0.01),
            "balance": holes(rng, np.round(amount * 2 + rng.normal(0, 10, n), 2), 0.02, 0.03),
            "visits": holes(rng, rng.geometric(0.2, n) - 1, 0.04, 0.0),
            "channel": pick(rng, n, CHANNEL, [0.5, 0.3, 0.2]),
            "country": pick(rng, n, COUNTRY),
            "segment": pick(rng, n, SEGMENT),
            "product": pick(rng, n, PRODUCT),
        }
        pq.write_table(pa.table(columns), out / f"part-{i:02d}.parquet")


def mlcd_checks(rows: int) -> list[dict[str, Any]]:
    """The set as mlcd.yaml `checks:` (most common value: mlcd bounds its share)."""
    checks: list[dict[str, Any]] = []
    for col, b in NUMERIC.items():
        lo, hi = distinct_range(b, rows)
        checks.append(
            {
                "column": col,
                "min": b.lo,
                "max": b.hi,
                "max_null_fraction": b.nulls,
                "min_distinct": lo,
                "max_distinct": hi,
                "max_mode_share": b.mode_share,
                "max_zero_fraction": b.zeros,
                "mean": list(b.mean),
                "std": list(b.std),
                "max_skew": b.skew,
            }
        )
    a, c, least = CORRELATION
    checks.append({"correlation": [a, c], "min": least})
    checks += [{"column": col, "in": values} for col, values in CATEGORICAL.items()]
    return checks


MLCD_NAMES = {
    "min": "min",
    "max": "max",
    "null_fraction": "null_share",
    "distinct": "distinct",
    "mode_share": "mode",
    "zero_fraction": "zero_share",
    "mean": "mean",
    "std": "std",
    "skewness": "skew",
    "allowed": "allowed",
}


def from_mlcd(results: list[dict[str, Any]]) -> list[tuple[str, bool, Any]]:
    """mlcd's result names (`bench.amount.null_fraction`) in the set's names."""
    out = []
    for r in results:
        name = r["name"].removeprefix(f"{DATASET}.")
        if not name.startswith("correlation."):
            col, _, kind = name.rpartition(".")
            name = f"{col}.{MLCD_NAMES[kind]}"
        out.append((name, bool(r["passed"]), r["value"]))
    return out


# -- the runners (each in its own process and venv) ------------------------------------------


def emit(core: float, results: list[tuple[str, bool, Any]], cannot: Sequence[str] = ()) -> None:
    """The one line a runner prints: its core time, every check's result, what it can't do."""
    peak_kb = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    line = {"core": core, "results": results, "cannot": list(cannot), "vmhwm_mb": peak_kb / 1024}
    print("BENCH " + json.dumps(line, default=float), flush=True)


def run_mlcd(ws_root: Path) -> None:
    from mlcd.workspace import Workspace

    ws = Workspace(ws_root)
    start = time.perf_counter()
    results = ws.check_data(f"{DATASET}@1")
    core = time.perf_counter() - start
    emit(core, from_mlcd([r.to_dict() for r in results]))


def run_duckdb(data: Path, rows: int) -> None:
    """The floor: what a person who knows DuckDB writes by hand. One scan for every aggregate
    that keeps a few numbers (and the correlation), then one GROUP BY per numeric column for
    its exact distinct count and most common value (a hash table of one column at a time:
    `count(DISTINCT)` and `mode()` of every column inline need several GB), and the distinct
    values of each categorical column, compared with its allowed set in Python (`count_if(c
    NOT IN (...))` over every row took 25x longer)."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET memory_limit = '700MB'")
    src = f"read_parquet('{data}/*.parquet')"
    exprs = ["count(*)"]
    for col in NUMERIC:
        exprs += [
            f"count(*) - count({col})",
            f"min({col})",
            f"max({col})",
            f"count_if({col} = 0)",
            f"avg({col}::DOUBLE)",
            f"stddev_samp({col}::DOUBLE)",
            f"skewness({col}::DOUBLE)",
        ]
    a, b, least = CORRELATION
    exprs.append(f"corr({a}, {b})")
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {src}").fetchone()
    assert row is not None
    n = row[0]
    results: list[tuple[str, bool, Any]] = []
    i = 1
    for col, bnd in NUMERIC.items():
        nulls, lo, hi, zeros, mean, std, skew = row[i : i + 7]
        i += 7
        group = con.execute(
            f"SELECT count(*), arg_max(v, c), max(c) FROM"
            f" (SELECT {col} AS v, count(*) AS c FROM {src} WHERE {col} IS NOT NULL GROUP BY v)"
        ).fetchone()
        assert group is not None
        distinct, mode, mode_count = group
        dlo, dhi = distinct_range(bnd, rows)
        share = mode_count / (n - nulls)
        results += [
            (f"{col}.min", lo >= bnd.lo, lo),
            (f"{col}.max", hi <= bnd.hi, hi),
            (f"{col}.null_share", nulls / n <= bnd.nulls, nulls / n),
            (f"{col}.distinct", dlo <= distinct <= dhi, distinct),
            (f"{col}.mode", mode in bnd.modes and share <= bnd.mode_share, share),
            (f"{col}.zero_share", zeros / n <= bnd.zeros, zeros / n),
            (f"{col}.mean", bnd.mean[0] <= mean <= bnd.mean[1], mean),
            (f"{col}.std", bnd.std[0] <= std <= bnd.std[1], std),
            (f"{col}.skew", abs(skew) <= bnd.skew, abs(skew)),
        ]
    corr = row[i]
    results.append((f"correlation.{a}.{b}", corr >= least, corr))
    for col, values in CATEGORICAL.items():
        seen = {v for (v,) in con.execute(f"SELECT DISTINCT {col} FROM {src}").fetchall()}
        unexpected = seen - set(values) - {None}
        results.append((f"{col}.allowed", not unexpected, len(unexpected)))
    emit(time.perf_counter() - start, results)


def run_ge(data: Path, rows: int) -> None:
    """Great Expectations 1.x, pandas engine: read the Parquet into a DataFrame, validate a
    suite. Core expectations have no skewness and no correlation check."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    start = time.perf_counter()
    df = pd.read_parquet(data)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    asset = context.data_sources.add_pandas("bench").add_dataframe_asset("checks")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    names: list[str] = []
    for col, b in NUMERIC.items():
        dlo, dhi = distinct_range(b, rows)
        for kind, expectation in [
            ("min", gxe.ExpectColumnMinToBeBetween(column=col, min_value=b.lo)),
            ("max", gxe.ExpectColumnMaxToBeBetween(column=col, max_value=b.hi)),
            ("null_share", gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=1 - b.nulls)),
            (
                "distinct",
                gxe.ExpectColumnUniqueValueCountToBeBetween(
                    column=col, min_value=dlo, max_value=dhi
                ),
            ),
            (
                "mode",
                gxe.ExpectColumnMostCommonValueToBeInSet(column=col, value_set=list(b.modes)),
            ),
            # GE counts the share among non-null values; the bound is the same
            (
                "zero_share",
                gxe.ExpectColumnValuesToNotBeInSet(column=col, value_set=[0], mostly=1 - b.zeros),
            ),
            (
                "mean",
                gxe.ExpectColumnMeanToBeBetween(
                    column=col, min_value=b.mean[0], max_value=b.mean[1]
                ),
            ),
            (
                "std",
                gxe.ExpectColumnStdevToBeBetween(
                    column=col, min_value=b.std[0], max_value=b.std[1]
                ),
            ),
        ]:
            suite.add_expectation(expectation)
            names.append(f"{col}.{kind}")
    for col, values in CATEGORICAL.items():
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=values))
        names.append(f"{col}.allowed")
    validation = batch.validate(suite)
    core = time.perf_counter() - start
    results = []
    for name, r in zip(names, validation.results, strict=True):
        kind = name.rpartition(".")[2]
        observed = r.result.get("observed_value")  # min, max, distinct, mean, std
        if kind == "null_share":
            observed = r.result["unexpected_percent"] / 100
        elif kind in ("mode", "zero_share", "allowed"):  # not the same measure as the others'
            observed = None
        results.append((name, bool(r.success), observed))
    a, c, _ = CORRELATION
    emit(core, results, [*(f"{col}.skew" for col in NUMERIC), f"correlation.{a}.{c}"])


def run_pandera(data: Path, rows: int) -> None:
    """pandera (pandas backend): built-in checks where there is one (allowed sets), custom
    series/frame-level checks (a Python function over pandas) for every statistic."""
    import pandas as pd
    import pandera.pandas as pa

    start = time.perf_counter()
    df = pd.read_parquet(data)
    columns: dict[str, Any] = {}
    names: list[str] = []

    def stat(kind: str, fn: Callable[[Any], bool], col: str, na: bool = True) -> Any:
        names.append(f"{col}.{kind}")
        return pa.Check(fn, element_wise=False, ignore_na=na, name=f"{col}.{kind}")

    for col, b in NUMERIC.items():
        dlo, dhi = distinct_range(b, rows)

        def mode_ok(s: Any, b: Bounds = b) -> bool:
            counts = s.value_counts()
            return bool(counts.index[0] in b.modes and counts.iloc[0] / len(s) <= b.mode_share)

        columns[col] = pa.Column(
            None,
            nullable=True,
            checks=[
                stat("min", lambda s, b=b: s.min() >= b.lo, col),
                stat("max", lambda s, b=b: s.max() <= b.hi, col),
                stat("null_share", lambda s, b=b: s.isna().mean() <= b.nulls, col, na=False),
                stat("distinct", lambda s, lo=dlo, hi=dhi: lo <= s.nunique() <= hi, col),
                stat("mode", mode_ok, col),
                stat("zero_share", lambda s, b=b: (s == 0).mean() <= b.zeros, col, na=False),
                stat("mean", lambda s, b=b: b.mean[0] <= s.mean() <= b.mean[1], col),
                stat("std", lambda s, b=b: b.std[0] <= s.std() <= b.std[1], col),
                stat("skew", lambda s, b=b: abs(s.skew()) <= b.skew, col),
            ],
        )
    for col, values in CATEGORICAL.items():
        names.append(f"{col}.allowed")
        columns[col] = pa.Column(None, nullable=True, checks=[pa.Check.isin(values)])
    a, c, least = CORRELATION
    names.append(f"correlation.{a}.{c}")
    corr = pa.Check(lambda d: d[a].corr(d[c]) >= least, ignore_na=False, name="correlation")
    schema = pa.DataFrameSchema(columns, checks=[corr])
    failed: set[str] = set()
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for col, check in zip(cases["column"], cases["check"], strict=True):
            failed.add(f"{col}.allowed" if str(check).startswith("isin") else str(check))
    core = time.perf_counter() - start
    emit(core, [(n, n not in failed, None) for n in names])


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    core: float | None
    others: float  # CPU seconds the rest of the machine used meanwhile
    results: list[tuple[str, bool, Any]] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)


def wait_quiet() -> None:
    harness.wait_quiet(limit=15.0, window=0.5, cores=0.3)


def measure(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    wait_quiet()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        wall, cpu, rss_mb, code, others = harness.launch(cmd, cwd, env, out, err)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if code != 0 and not (cmd[-1] == "--json" and code == 1):  # mlcd check: 1 = a check failed
        sys.exit(f"FAILED ({code}): {' '.join(cmd)}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    run = Run(wall, cpu, rss_mb, None, others)
    for line in stdout.splitlines():
        if line.startswith("BENCH "):
            data = json.loads(line[6:])
            run.core, run.cannot = data["core"], data["cannot"]
            run.results = [tuple(r) for r in data["results"]]  # type: ignore[misc]
    if cmd[-1] == "--json":  # the mlcd CLI: its own JSON
        run.results = from_mlcd(json.loads(stdout))
    return run


# -- setup ---------------------------------------------------------------------------------------


def peer_python(tool: str) -> Path:
    venv, packages = PEERS[tool]
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing {', '.join(packages)} (once) ...", flush=True)
        quiet([sys.executable, "-m", "venv", str(venv)])
        quiet([str(python), "-m", "pip", "install", "-q", *packages])
    return python


def version_of(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    return quiet([str(python), "-c", code]).strip()


def prepare_data(data: Path, rows: int, files: int) -> None:
    marker = data.parent / "GENERATED"
    want = json.dumps({"format": DATA_FORMAT, "rows": rows, "files": files})
    if marker.exists() and marker.read_text() == want:
        return
    rmtree(data)
    print(f"generating {rows:,} rows x 12 columns in {files} Parquet files ...", flush=True)
    start = time.perf_counter()
    quiet([sys.executable, __file__, "gen", str(data), str(rows), str(files)])
    marker.write_text(want)
    print(f"  {time.perf_counter() - start:.1f} s", flush=True)


def prepare_workspace(ws_root: Path, data: Path, rows: int) -> None:
    """A workspace with the checks declared and the data snapshotted as bench@1 (once)."""
    import yaml

    from mlcd.workspace import Workspace

    marker = ws_root / "SNAPSHOT"
    want = (data.parent / "GENERATED").read_text()
    if not (marker.exists() and marker.read_text() == want):
        rmtree(ws_root)
        with Workspace.init(ws_root, project="bench") as ws:
            assert ws.snapshot(DATASET, data).version.number == 1
        marker.write_text(want)
    config_path = ws_root / "mlcd.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["datasets"] = {DATASET: {"checks": mlcd_checks(rows)}}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def forget_profiles(ws_root: Path) -> None:
    """The next mlcd run computes the profile again (its blob stays, unreferenced)."""
    db = sqlite3.connect(ws_root / ".mlcd" / "mlcd.db")
    try:
        with db:
            db.execute("DELETE FROM profiles")
    finally:
        db.close()


def stored_profiles(ws_root: Path) -> int:
    db = sqlite3.connect(ws_root / ".mlcd" / "mlcd.db")
    try:
        return int(db.execute("SELECT count(*) FROM profiles").fetchone()[0])
    finally:
        db.close()


# -- where mlcd's time goes ----------------------------------------------------------------------


def breakdown(ws_root: Path, runs: int = 3) -> list[tuple[float, str]]:
    """Every query of a cold mlcd check run, timed in this process: the median of `runs`."""
    from mlcd.checks import stats
    from mlcd.workspace import Workspace

    timed: dict[str, list[float]] = {}
    originals = {"_one": stats._one, "_all": stats._all}

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_query(con: Any, sql: str) -> Any:
            start = time.perf_counter()
            try:
                return fn(con, sql)
            finally:
                timed.setdefault(sql, []).append(time.perf_counter() - start)

        return timed_query

    try:
        stats._one = wrap(originals["_one"])  # type: ignore[assignment]
        stats._all = wrap(originals["_all"])  # type: ignore[assignment]
        for _ in range(runs):
            forget_profiles(ws_root)
            wait_quiet()
            with Workspace(ws_root) as ws:
                start = time.perf_counter()
                ws.check_data(f"{DATASET}@1")
                timed.setdefault("TOTAL", []).append(time.perf_counter() - start)
    finally:
        stats._one, stats._all = originals["_one"], originals["_all"]  # type: ignore[assignment]
    return [(median(times), sql) for sql, times in timed.items()]


def describe(sql: str) -> str:
    """A short label for a statistics query."""
    if sql == "TOTAL":
        return "check_data, in total"
    column = re.search(r'SELECT "([^"]+)" AS v', sql)
    if "GROUP BY" in sql and column:
        return f"GROUP BY {column.group(1)} (distinct count, most common value)"
    if sql.startswith("SELECT corr("):
        return "correlation (its own scan)"
    if sql.startswith("SELECT count(*), count(*) - count("):
        return "pass 1: every cheap aggregate of every column"
    return sql[:60]


# -- the run -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_runs(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def verify(tool: str, run: Run) -> None:
    """Every check the tool can express ran and passed, and it ran nothing else."""
    expected = set(all_checks()) - set(run.cannot)
    got = {name for name, _, _ in run.results}
    if got != expected:
        sys.exit(f"{tool}: ran {sorted(got - expected)}, missed {sorted(expected - got)}")
    failed = [name for name, ok, _ in run.results if not ok]
    if failed:
        sys.exit(f"{tool}: checks failed on clean data: {failed}")


def agreement(a: Run, b: Run) -> tuple[int, float]:
    """(values compared, largest relative difference) between two tools' measured values."""
    va = {n: v for n, _, v in a.results if isinstance(v, int | float) and not isinstance(v, bool)}
    vb = {n: v for n, _, v in b.results if isinstance(v, int | float) and not isinstance(v, bool)}
    diffs = [
        abs(va[n] - vb[n]) / max(abs(va[n]), abs(vb[n]), 1e-12)
        for n in va.keys() & vb.keys()
        if not n.endswith((".mode", ".allowed"))  # measured differently (share vs value, ...)
    ]
    return len(diffs), max(diffs, default=0.0)


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return {"cores": str(os.cpu_count()), "cpu": cpu, "ram": mem}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=WORK, help="data and workspace folder")
    parser.add_argument("--no-write", action="store_true", help="don't touch RESULTS.md")
    args = parser.parse_args(argv)

    mlcd_bin = Path(sys.executable).parent / "mlcd"
    if not mlcd_bin.exists():
        sys.exit(f"no mlcd beside {sys.executable}: run this with the project's venv Python")
    pythons = {"ge": peer_python("ge"), "pandera": peer_python("pandera")}
    data, ws_root = args.work / "data", args.work / "ws"
    prepare_data(data, args.rows, args.files)
    prepare_workspace(ws_root, data, args.rows)
    size_mb = sum(p.stat().st_size for p in data.glob("*.parquet")) / 2**20

    me = [sys.executable, __file__, "run"]
    commands: dict[str, tuple[list[str], Path]] = {
        "mlcd (Python API)": ([*me, "mlcd", str(ws_root)], HERE),
        "mlcd (CLI)": ([str(mlcd_bin), "check", "data", f"{DATASET}@1", "--json"], ws_root),
        "DuckDB by hand": ([*me, "duckdb", str(data), str(args.rows)], HERE),
        "Great Expectations": (
            [str(pythons["ge"]), __file__, "run", "ge", str(data), str(args.rows)],
            HERE,
        ),
        "pandera": (
            [str(pythons["pandera"]), __file__, "run", "pandera", str(data), str(args.rows)],
            HERE,
        ),
    }
    warm = "mlcd, profile stored (API)"
    runs: dict[str, list[Run]] = {name: [] for name in [*commands, warm]}
    os.sync()
    for rnd in range(args.repeat):
        for name, (cmd, cwd) in commands.items():
            if name.startswith("mlcd"):
                forget_profiles(ws_root)
            run = measure(cmd, cwd)
            verify(name, run)
            runs[name].append(run)
            print(
                f"round {rnd + 1}: {name:20} wall {run.wall:7.2f} s  core {run.core or 0:7.2f} s"
                f"  rss {run.rss_mb:6.0f} MB  others' cpu {run.others:6.1f} s",
                flush=True,
            )
            if name == "mlcd (Python API)":
                assert stored_profiles(ws_root) == 1  # the run stored its profile
                run = measure([*me, "mlcd", str(ws_root)], HERE)
                verify(warm, run)
                runs[warm].append(run)
    print("where a cold mlcd check run spends its time ...", flush=True)
    queries = breakdown(ws_root)

    versions = {
        "mlcd": quiet([str(mlcd_bin), "--version"]).strip(),
        "duckdb": version_of(Path(sys.executable), "duckdb"),
        "great-expectations": version_of(pythons["ge"], "great-expectations"),
        "pandera": version_of(pythons["pandera"], "pandera"),
        "pandas (peers)": version_of(pythons["pandera"], "pandas"),
    }
    text = report(args, runs, queries, versions, size_mb)
    print()
    print(text)
    if not args.no_write:
        write_section(RESULTS, SECTION, text)
        print(f"wrote the {SECTION!r} section of {RESULTS}")


def report(
    args: argparse.Namespace,
    runs: dict[str, list[Run]],
    queries: list[tuple[float, str]],
    versions: dict[str, str],
    size_mb: float,
) -> str:
    n_checks = len(all_checks())
    wall = {name: median([r.wall for r in rs]) for name, rs in runs.items()}
    core = {name: median([r.core or 0.0 for r in rs]) for name, rs in runs.items()}
    rss = {name: max(r.rss_mb for r in rs) for name, rs in runs.items()}
    api, cli, floor = "mlcd (Python API)", "mlcd (CLI)", "DuckDB by hand"
    ge, pandera = "Great Expectations", "pandera"
    info = machine()
    lines = [
        SECTION,
        "",
        f"{args.rows:,} rows x 12 columns of Parquet ({args.files} files, {size_mb:.0f} MB):"
        " 8 numeric columns with nulls (1-5%) and zeros (0-40%), floats and integers, one"
        " with ~all-distinct values (`score`), and 4 categorical columns (3 to 200 values).",
        "",
        "```",
        f"python bench/checks.py --rows {args.rows} --files {args.files} --repeat {args.repeat}",
        "```",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| date | {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC |",
        f"| cores | {info['cores']} ({info['cpu']}) |",
        f"| RAM | {info['ram']} |",
        f"| Python | {platform.python_version()} |",
        *(f"| {k} | {v} |" for k, v in versions.items()),
        "",
        f"The set: {n_checks} checks. Per numeric column (8): min, max, null share, distinct"
        " count, most common value, zero share, mean, std, skewness; one Pearson correlation"
        " (amount, balance); an allowed set for each categorical column (4). Bounds are loose:"
        " every check passes on this data, and the benchmark stops if a tool misses or fails"
        " one it can express.",
        "",
        "| tool | checks run | how |",
        "| --- | ---: | --- |",
        f"| mlcd | {n_checks - len(runs[api][0].cannot)}/{n_checks} | declared in mlcd.yaml;"
        " the most common value is checked through its share (`max_mode_share`, the result"
        " names the value) |",
        f"| DuckDB by hand | {n_checks - len(runs[floor][0].cannot)}/{n_checks} | one scan for"
        " every aggregate and the correlation, one GROUP BY per numeric column (distinct count,"
        " most common value), `SELECT DISTINCT` of each categorical column |",
        f"| Great Expectations | {n_checks - len(runs[ge][0].cannot)}/{n_checks} | core"
        " expectations; **cannot express** skewness (8) or a correlation (1); the most common"
        " value is checked against a set, not its share; the zero share is counted among"
        " non-null values |",
        f"| pandera | {n_checks - len(runs[pandera][0].cannot)}/{n_checks} | built-in `isin`"
        " for the allowed sets; every statistic is a custom check (a Python function over the"
        " pandas Series), as pandera has no built-in for them |",
        "",
        "How it is measured: each tool runs as its own process (GE and pandera from their own"
        " venvs, reading the Parquet into pandas, which is part of their work), forked by a tiny"
        " launcher; wall time from fork to reap, peak RSS = the child's `ru_maxrss`"
        " (`os.wait4`); 'core' = the time of the check work inside the process (after"
        " interpreter start-up and imports). mlcd runs with no stored profile (deleted before"
        " each run: every statistic computed by DuckDB, the real cost), except the 'profile"
        " stored' row, a second run on the same version. Tools interleaved, "
        f"{args.repeat} rounds, medians shown, every run listed. This 2-core machine is shared:"
        " each run waits (up to 15 s) for the machine to be idle first"
        f" ({harness.QUIET['loud']} of {sum(map(len, runs.values()))} runs started anyway), and"
        " 'others' CPU' is what the rest of the machine burned during the run (a large figure"
        " flags a disturbed run).",
        "",
        "| tool | wall (s) | core (s) | peak RSS (MB) | others' CPU (s) | runs, wall (s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, rs in runs.items():
        others = median([r.others for r in rs])
        shown = f"{core[name]:.2f}" if all(r.core is not None for r in rs) else "-"
        lines.append(
            f"| {name} | {wall[name]:.2f} | {shown} | {rss[name]:.0f} | {others:.1f}"
            f" | {fmt_runs([r.wall for r in rs])} |"
        )
    n_ge, diff_ge = agreement(runs[ge][0], runs[floor][0])
    n_api, diff_api = agreement(runs[api][0], runs[floor][0])
    lines += [
        "",
        f"Measured values agree: mlcd and the DuckDB script on {n_api} values (largest relative"
        f" difference {diff_api:.1e}); GE and the DuckDB script on {n_ge} ({diff_ge:.1e}).",
        "",
    ]
    mlcd_rss = max(rss[api], rss[cli])

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    r_ge, r_pa, r_floor = wall[ge] / wall[api], wall[pandera] / wall[api], wall[api] / wall[floor]
    c_floor = core[api] / core[floor]
    lines += [
        "| target | figure (medians of wall time) | verdict |",
        "| --- | --- | --- |",
        f"| >= {VS_GE:g}x faster than Great Expectations | GE / mlcd = {r_ge:.1f}x"
        f" (CLI: {wall[ge] / wall[cli]:.1f}x) | {verdict(r_ge >= VS_GE)} |",
        f"| >= {VS_PANDERA:g}x faster than pandera | pandera / mlcd = {r_pa:.1f}x"
        f" (CLI: {wall[pandera] / wall[cli]:.1f}x) | {verdict(r_pa >= VS_PANDERA)} |",
        f"| within {VS_DUCKDB:g}x of the DuckDB script | mlcd / DuckDB = {r_floor:.2f}x"
        f" (CLI: {wall[cli] / wall[floor]:.2f}x; core: {c_floor:.2f}x)"
        f" | {verdict(r_floor <= VS_DUCKDB)} |",
        f"| peak RSS < {RSS_MB} MB | {mlcd_rss:.0f} MB | {verdict(mlcd_rss < RSS_MB)} |",
        f"| every check run | mlcd {n_checks - len(runs[api][0].cannot)}/{n_checks},"
        f" GE {n_checks - len(runs[ge][0].cannot)}/{n_checks},"
        f" pandera {n_checks - len(runs[pandera][0].cannot)}/{n_checks} | **met** (mlcd) |",
        "",
        "Where a cold mlcd check run spends its time (each query timed in-process, median of"
        " 3 runs):",
        "",
        "| query | s |",
        "| --- | ---: |",
    ]
    total = next(t for t, sql in queries if sql == "TOTAL")
    ranked = sorted(((t, sql) for t, sql in queries if sql != "TOTAL"), reverse=True)
    shown = ranked[:6]
    for t, sql in shown:
        lines.append(f"| {describe(sql)} | {t:.2f} |")
    rest = sum(t for t, _ in ranked[6:])
    lines += [
        f"| {len(ranked) - len(shown)} more GROUP BYs (columns with few values) | {rest:.2f} |",
        f"| outside queries (profile stored, results recorded) |"
        f" {total - sum(t for t, _ in ranked):.2f} |",
        f"| {describe('TOTAL')} | {total:.2f} |",
        "",
        *CHANGES,
    ]
    return "\n".join(lines) + "\n"


# What this benchmark changed in mlcd, with the figures measured when the change was made (they
# cannot be measured again: the old code is gone). Kept here so the section keeps saying it.
CHANGES = [
    "Changes to `src/mlcd/checks/stats.py` made while profiling this benchmark (in-process"
    " `stats.compute` of the 10M-row data, median of 3, idle machine: **6.41 s before, 3.10 s"
    " after**):",
    "",
    "- quantiles (`approx_quantile`: a t-digest per column, which took longer than every other"
    " statistic together, ~14 s of 8 columns on a busy machine) are computed only for the"
    " profile report (`mlcd data profile`, which adds them and the histograms to a stored"
    " profile), never for checks, which don't use them;",
    "- min and max of strings come from the column's GROUP BY (one row per value) instead of"
    " the pass over every row (a quarter of that pass);",
    "- a column with few values gets its distinct count, most common value and every value's"
    " count from one GROUP BY query instead of two.",
    "",
    "Tried and left: DuckDB `memory_limit` 2 GB instead of 700 MB (no faster: the largest"
    " GROUP BY, ~10M distinct doubles, fits either way), `threads=1` (slower), GROUPING SETS or"
    " UNPIVOT for all columns' GROUP BYs in one scan (slower: 1.6x and 2x), skewness from power"
    " sums instead of DuckDB's `skewness` (a fifth of pass 1 saved, but catastrophically wrong"
    " for a column like 123,556,789 + small noise, where DuckDB's stays exact).",
]


def role(argv: Sequence[str]) -> None:
    """`gen OUT ROWS FILES` or `run TOOL ...`: the work of one child process."""
    if argv[0] == "gen":
        gen(Path(argv[1]), int(argv[2]), int(argv[3]))
    elif argv[:2] == ["run", "mlcd"]:
        run_mlcd(Path(argv[2]))
    else:
        runner = {"duckdb": run_duckdb, "ge": run_ge, "pandera": run_pandera}[argv[1]]
        runner(Path(argv[2]), int(argv[3]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("gen", "run"):
        role(sys.argv[1:])
    else:
        main()
