"""Declared data checks on real snapshots: planted problems are caught by the right checks and a
clean dataset passes them; every check kind measures what it says; a check on a missing column
or of the wrong type fails with a message and never stops the suite; config mistakes name their
key path; a pipeline step whose input fails its checks does not run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcd.checks.result import CheckResult
from mlcd.checks.spec import parse_checks
from mlcd.errors import ConfigError, IntegrityError
from mlcd.workspace import Workspace
from tests.conftest import age
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
ROWS = 400  # per partition

# Every kind of declared check, with bounds that the clean data passes.
CHECKS: list[dict[str, Any]] = [
    {"column": "id", "dtype": "int64", "unique": True, "min": 0},
    {
        "column": "amount",
        "dtype": "double",
        "min": 0,
        "max": 1000,
        "max_null_fraction": 0,
        "mean": [80, 120],
        "std": [5, 20],
        "max_skew": 2,
    },
    {"column": "price", "min": 0, "max_skew": 2},
    {"column": "level", "min_distinct": 2, "max_distinct": 10, "max_mode_share": 0.5},
    {"column": "level", "std": [0.5, None], "name": "level_spread"},
    {"column": "discount", "max_null_fraction": 0.05, "max_zero_fraction": 0.2},
    {"column": "channel", "in": ["web", "app", "store"], "max_null_fraction": 0},
    {"column": "code", "regex": "[A-Z]{2}-[0-9]{3}"},
    {"correlation": ["amount", "items"], "min": 0.8},
    {"correlation": ["amount", "items"], "method": "spearman", "min": 0.8, "name": "rank_corr"},
    {"rows": [100, 100_000]},
    {"sql": "discount IS NULL OR discount >= 0", "min_fraction": 1.0},
    {
        "drift": {
            "vs": "parent",
            "columns": ["amount", "items", "price", "channel", "discount"],
            "max_psi": 0.2,
            "max_ks": 0.15,
            "max_share_shift": 0.1,
            "new_categories": False,
            "max_null_rate_change": 0.05,
        }
    },
]

# What those checks report on a clean first version (drift: no parent to compare with).
CLEAN_RESULTS = [
    "sales.id.dtype",
    "sales.id.min",
    "sales.id.unique",
    "sales.amount.dtype",
    "sales.amount.min",
    "sales.amount.max",
    "sales.amount.null_fraction",
    "sales.amount.mean",
    "sales.amount.std",
    "sales.amount.skewness",
    "sales.price.min",
    "sales.price.skewness",
    "sales.level.distinct",
    "sales.level.mode_share",
    "sales.level.std",  # named checks name the check, not each result
    "sales.discount.null_fraction",
    "sales.discount.zero_fraction",
    "sales.channel.null_fraction",
    "sales.channel.allowed",
    "sales.code.regex",
    "sales.correlation.amount.items",
    "sales.rank_corr",
    "sales.rows",
    "sales.sql",
    "sales.drift",
]


def sales_day(
    rng: np.random.Generator,
    first_id: int,
    rows: int = ROWS,
    *,
    planted: bool = False,
    drifted: bool = False,
) -> pa.Table:
    """One day of sales. `planted`: a skewed price, a constant level, items unrelated to the
    amount. `drifted`: amounts shifted up, a new channel, many missing discounts."""
    amount = rng.normal(100, 10, rows) + (25 if drifted else 0)
    items = amount / 10 + rng.normal(0, 0.3, rows)
    price = rng.normal(20, 2, rows)
    level = rng.integers(1, 6, rows).astype(float)
    discount = np.where(rng.random(rows) < 0.1, 0.0, rng.uniform(1, 5, rows))
    channels = ["web", "app", "store", "kiosk"] if drifted else ["web", "app", "store"]
    weights = [0.2, 0.15, 0.15, 0.5] if drifted else [0.4, 0.3, 0.3]
    if planted:
        price = rng.lognormal(3, 1, rows)
        level = np.full(rows, 3.0)
        items = rng.normal(10, 1, rows)
    return pa.table(
        {
            "id": np.arange(first_id, first_id + rows, dtype=np.int64),
            "amount": amount,
            "items": items,
            "price": price,
            "level": level,
            "discount": pa.array(discount, mask=rng.random(rows) < (0.4 if drifted else 0.02)),
            "channel": rng.choice(channels, rows, p=weights),
            "code": [f"AB-{i:03d}" for i in rng.integers(0, 1000, rows)],
        }
    )


def write_sales(root: Path, days: list[str], start: int = 0, **kind: bool) -> Path:
    """Hive partitions root/date=DAY/part-0.parquet; day i has seed start + i."""
    for i, day in enumerate(days, start):
        folder = root / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = sales_day(np.random.default_rng(i), first_id=i * ROWS, **kind)
        pq.write_table(table, folder / "part-0.parquet")
        age(folder)
    return root


def declare(root: Path, checks: Any, **top: Any) -> Workspace:
    """Declare `checks` for `sales` in mlcd.yaml (plus other top-level keys, e.g. steps) and
    open the workspace anew."""
    path = root / "mlcd.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(datasets={"sales": {"checks": checks}}, **top)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Workspace(root)


def failed(results: list[CheckResult]) -> set[str]:
    return {r.name for r in results if r.failed}


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    named = {r.name: r for r in results}
    assert len(named) == len(results), "result names are unique"
    return named


@pytest.fixture
def checked(ws: Workspace) -> Iterator[Workspace]:
    """`ws` with sales@1 (three clean days) and CHECKS declared."""
    ws.snapshot("sales", write_sales(ws.root / "data" / "sales", DAYS))
    opened = declare(ws.root, CHECKS)
    yield opened
    opened.close()


# -- planted problems --------------------------------------------------------------------------


def test_a_clean_dataset_passes_every_declared_check(checked: Workspace) -> None:
    results = checked.check_data("sales@1")
    assert [r.name for r in results] == CLEAN_RESULTS
    assert failed(results) == set(), [r.message for r in results if r.failed]
    assert all(r.passed for r in results)
    named = by_name(results)
    assert named["sales.rows"].value == 3 * ROWS
    assert named["sales.id.unique"].value == 3 * ROWS
    assert named["sales.correlation.amount.items"].value > 0.9
    assert "has no parent" in named["sales.drift"].message


def test_checks_refuse_a_damaged_blob_instead_of_measuring_it(checked: Workspace) -> None:
    """DuckDB reads the Parquet blobs in place: they are verified first, as `load` does."""
    blob = checked.version("sales@1", with_files=True).files[0].blob
    path = checked.store.path_of(blob)  # type: ignore[attr-defined]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=blob):
        checked.check_data("sales@1")


def test_planted_problems_are_caught_by_the_right_checks(ws: Workspace) -> None:
    ws.snapshot("sales", write_sales(ws.root / "data" / "sales", DAYS, planted=True))
    results = declare(ws.root, CHECKS).check_data("sales@1")
    assert failed(results) == {
        "sales.price.skewness",  # skewed column
        "sales.level.distinct",  # constant column ...
        "sales.level.mode_share",
        "sales.level.std",
        "sales.correlation.amount.items",  # broken correlation
        "sales.rank_corr",
    }
    named = by_name(results)
    skew = named["sales.price.skewness"]
    assert skew.value > 2 and "outside <= 2" in skew.message
    assert named["sales.level.distinct"].value == 1
    assert named["sales.level.mode_share"].value == 1.0
    assert "(3.0)" in named["sales.level.mode_share"].message  # names the value
    assert named["sales.level.std"].value == 0.0
    assert (
        "pearson correlation of amount and items" in named["sales.correlation.amount.items"].message
    )
    assert "spearman" in named["sales.rank_corr"].message


def test_a_drifted_partition_is_caught_against_the_parent(checked: Workspace) -> None:
    new_day = write_sales(checked.root / "data" / "new", ["2024-01-04"], start=3, drifted=True)
    v2 = checked.snapshot("sales", new_day, append=True).version  # appended as a partition
    assert (v2.ref, v2.parent, v2.rows) == ("sales@2", 1, 4 * ROWS)
    results = checked.check_data("sales@2")
    assert failed(results) == {
        "sales.drift.amount.psi",  # shifted amounts (and items, which follow them)
        "sales.drift.amount.ks",
        "sales.drift.items.psi",
        "sales.drift.items.ks",
        "sales.drift.channel.share_shift",  # a new channel takes 1/8 of the rows ...
        "sales.drift.channel.new_categories",
        "sales.channel.allowed",  # ... which the allowed set catches too
        "sales.drift.discount.null_rate",  # many missing discounts
        "sales.discount.null_fraction",
    }
    named = by_name(results)
    assert named["sales.drift.price.psi"].passed and named["sales.drift.price.ks"].passed
    assert named["sales.drift.amount.psi"].value > 0.2
    assert named["sales.drift.channel.new_categories"].value == ["kiosk"]
    assert "'kiosk'" in named["sales.drift.channel.share_shift"].message
    assert named["sales.drift.discount.null_rate"].value == pytest.approx(0.1, abs=0.03)
    assert "'kiosk'" in named["sales.channel.allowed"].message
    # the first version is still clean
    assert failed(checked.check_data("sales@1")) == set()


def test_drift_against_an_explicit_version(checked: Workspace) -> None:
    source = checked.root / "data" / "sales"
    write_sales(source, ["2024-01-04"], start=3, drifted=True)
    checked.snapshot("sales", source)
    write_sales(source, ["2024-01-05"], start=4)  # sales@3: one more clean day
    checked.snapshot("sales", source)
    spec = {"columns": ["amount", "price"], "max_psi": 0.2, "max_ks": 0.15}
    against_first = parse_checks([{"drift": {"vs": "sales@1", **spec}}], "test")
    against_parent = parse_checks([{"drift": {"vs": "parent", **spec}}], "test")

    vs_first = by_name(checked.check_data("sales@3", against_first))
    vs_parent = by_name(checked.check_data("sales@3", against_parent))
    assert not vs_first["sales.drift.amount.psi"].passed  # 1 drifted day of 5 vs clean days
    assert vs_parent["sales.drift.amount.psi"].passed  # 1 of 5 vs 1 of 4: little changed
    assert vs_first["sales.drift.amount.psi"].value > vs_parent["sales.drift.amount.psi"].value
    assert vs_first["sales.drift.price.psi"].passed and vs_parent["sales.drift.price.psi"].passed

    same = checked.check_data("sales@1", against_first)  # a version against itself
    assert [r.value for r in same] == [0.0, 0.0, 0.0, 0.0] and all(r.passed for r in same)


def test_drift_compares_every_shared_column_by_default(checked: Workspace) -> None:
    source = checked.root / "data" / "sales"
    write_sales(source, ["2024-01-04"], start=3)
    checked.snapshot("sales", source)
    results = checked.check_data("sales@2", parse_checks([{"drift": {}}], "test"))
    numeric = ["id", "amount", "items", "price", "level", "discount"]
    assert [r.name for r in results] == [f"sales.drift.{c}.psi" for c in numeric]
    assert by_name(results)["sales.drift.id.psi"].failed  # new ids: a new range
    assert not failed(results) - {"sales.drift.id.psi"}


def test_drift_of_a_column_whose_type_changed_fails(ws: Workspace) -> None:
    code = pa.array(["a", "b", "c"], pa.string())
    ws.snapshot("old", pa.table({"amount": pa.array(["1", "2", "3"], pa.string()), "code": code}))
    ws.snapshot("new", pa.table({"amount": [1.0, 2.0, 3.0], "code": code}))
    results = ws.check_data("new@1", parse_checks([{"drift": {"vs": "old@1"}}], "test"))
    assert [(r.name, r.passed) for r in results] == [("new.drift.amount", False)]
    assert results[0].message == (
        "column 'amount' is double in new@1 but string in old@1: nothing to compare"
    )


def test_drift_of_a_named_column_it_cannot_compare_fails(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcd.checks import drift, stats

    monkeypatch.setattr(stats, "MAX_CATEGORIES", 2)  # "code" has too many values to compare
    monkeypatch.setattr(drift, "MAX_CATEGORIES", 2)
    frame = pd.DataFrame({"code": ["a", "b", "c", "d"], "n": [1.0, 2.0, 3.0, 4.0]})
    ws.snapshot("t", frame)
    ws.snapshot("t", frame.assign(n=[2.0, 3.0, 4.0, 5.0]))
    named = parse_checks([{"drift": {"columns": ["code"], "max_share_shift": 0.1}}], "test")
    (result,) = ws.check_data("t@2", named)
    assert (result.name, result.passed) == ("t.drift.code", False)
    assert "has more than 2 values and is not numeric" in result.message
    every = ws.check_data("t@2", parse_checks([{"drift": {}}], "test"))  # unnamed: skipped
    assert [r.name for r in every] == ["t.drift.n.psi"]
    nulls = parse_checks([{"drift": {"columns": ["code"], "max_null_rate_change": 0}}], "test")
    assert [(r.name, r.passed) for r in ws.check_data("t@2", nulls)] == [
        ("t.drift.code.null_rate", True)
    ]


# -- every check kind, measured --------------------------------------------------------------

X = [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, None]
X_SERIES = pd.Series(X, dtype="float64")
TABLE = pa.table(
    {
        "x": pa.array(X, pa.float64()),
        "y": [2 * v + (0.5 if i % 2 else 0) if v is not None else None for i, v in enumerate(X)],
        "n": pa.array(range(1, 11), pa.int64()),
        "s": pa.array([f"{c}-{i}" for i, c in enumerate("abcdefghij", 1)], pa.string()),
        "c": pa.array(["x"] * 6 + ["y"] * 3 + [None], pa.string()),
        "b": [True] * 7 + [False] * 3,
    }
)
STD, SKEW = float(X_SERIES.std()), float(X_SERIES.skew())
FRAME = TABLE.to_pandas()
PEARSON = float(FRAME["x"].corr(FRAME["y"]))
RANKS = FRAME[["x", "y"]].dropna().rank()  # ties (x = 0 twice) share their average rank
SPEARMAN = float(RANKS["x"].corr(RANKS["y"]))

# (check, result name, measured value, passes)
KINDS: list[tuple[dict[str, Any], str, Any, bool]] = [
    ({"column": "x", "dtype": "double"}, "t.x.dtype", "double", True),
    ({"column": "x", "dtype": "int64"}, "t.x.dtype", "double", False),
    ({"column": "x", "min": 0}, "t.x.min", 0.0, True),
    ({"column": "x", "min": 0.5}, "t.x.min", 0.0, False),
    ({"column": "x", "max": 7}, "t.x.max", 7.0, True),
    ({"column": "x", "max": 6.5}, "t.x.max", 7.0, False),
    ({"column": "s", "min": "a-1", "max": "j-10"}, "t.s.max", "j-10", True),
    ({"column": "s", "min": "b"}, "t.s.min", "a-1", False),
    ({"column": "n", "unique": True}, "t.n.unique", 10, True),
    ({"column": "x", "unique": True}, "t.x.unique", 8, False),
    ({"column": "x", "min_distinct": 8}, "t.x.distinct", 8, True),
    ({"column": "x", "min_distinct": 9}, "t.x.distinct", 8, False),
    ({"column": "c", "max_distinct": 2}, "t.c.distinct", 2, True),
    ({"column": "c", "max_distinct": 1}, "t.c.distinct", 2, False),
    ({"column": "x", "max_null_fraction": 0.1}, "t.x.null_fraction", 0.1, True),
    ({"column": "x", "max_null_fraction": 0.05}, "t.x.null_fraction", 0.1, False),
    ({"column": "x", "max_zero_fraction": 0.2}, "t.x.zero_fraction", 0.2, True),
    ({"column": "x", "max_zero_fraction": 0.1}, "t.x.zero_fraction", 0.2, False),
    ({"column": "x", "max_mode_share": 0.25}, "t.x.mode_share", 2 / 9, True),
    ({"column": "c", "max_mode_share": 0.5}, "t.c.mode_share", 6 / 9, False),
    ({"column": "x", "mean": [3, 3.2]}, "t.x.mean", 28 / 9, True),
    ({"column": "x", "mean": [3.2, None]}, "t.x.mean", 28 / 9, False),
    ({"column": "x", "mean": [None, 3]}, "t.x.mean", 28 / 9, False),
    ({"column": "x", "std": [2, 3]}, "t.x.std", STD, True),
    ({"column": "x", "std": [None, 2]}, "t.x.std", STD, False),
    ({"column": "x", "max_skew": 1}, "t.x.skewness", abs(SKEW), True),
    ({"column": "x", "max_skew": 0.01}, "t.x.skewness", abs(SKEW), False),
    ({"column": "c", "in": ["x", "y"]}, "t.c.allowed", 0, True),
    ({"column": "c", "in": ["x"]}, "t.c.allowed", 3, False),
    ({"column": "b", "in": [True, False]}, "t.b.allowed", 0, True),
    ({"column": "x", "in": [0, 1, 2, 3, 4, 5, 6, 7]}, "t.x.allowed", 0, True),  # numeric
    ({"column": "x", "in": [0, 1.0, 2, 3]}, "t.x.allowed", 4, False),
    ({"column": "n", "in": list(range(1, 10))}, "t.n.allowed", 1, False),
    ({"column": "s", "regex": "[a-z]-[0-9]+"}, "t.s.regex", 0, True),
    ({"column": "s", "regex": "[a-z]-[0-9]"}, "t.s.regex", 1, False),
    ({"correlation": ["x", "y"], "min": 0.99}, "t.correlation.x.y", PEARSON, True),
    ({"correlation": ["x", "y"], "max": 0.5}, "t.correlation.x.y", PEARSON, False),
    (
        {"correlation": ["x", "y"], "method": "spearman", "min": 0.99},
        "t.correlation.x.y",
        SPEARMAN,
        True,
    ),
    (
        {"correlation": ["x", "y"], "method": "spearman", "min": 1},
        "t.correlation.x.y",
        SPEARMAN,
        False,
    ),
    (
        {"correlation": ["x", "n"], "method": "spearman", "max": 0.5, "name": "r"},
        "t.r",
        None,
        False,
    ),
    ({"rows": [10, 10]}, "t.rows", 10, True),
    ({"rows": [11, None]}, "t.rows", 10, False),
    ({"rows": [None, 9]}, "t.rows", 10, False),
    ({"sql": "x >= 1", "min_fraction": 0.7}, "t.sql", 0.7, True),  # NULL does not hold
    ({"sql": "x >= 1", "min_fraction": 0.71}, "t.sql", 0.7, False),
    ({"sql": "n > 0 AND s LIKE '%-%'", "name": "sane"}, "t.sane", 1.0, True),
]


@pytest.fixture(scope="module")
def table_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with t@1 = TABLE, shared by the tests that only read it."""
    ws = Workspace.init(tmp_path_factory.mktemp("kinds") / "ws")
    ws.snapshot("t", TABLE)
    yield ws
    ws.close()


@pytest.mark.parametrize(("check", "name", "value", "passes"), KINDS, ids=str)
def test_each_check_kind_measures_and_bounds(
    table_ws: Workspace, check: dict[str, Any], name: str, value: Any, passes: bool
) -> None:
    results = [
        r for r in table_ws.check_data("t@1", parse_checks([check], "test")) if r.name == name
    ]
    assert len(results) == 1
    result = results[0]
    assert result.passed is passes, result.message
    assert result.failed is not passes
    if isinstance(value, float):
        assert result.value == pytest.approx(value, rel=1e-9)
    elif value is not None:
        assert result.value == value
    assert result.message and result.severity == "error"
    json.dumps(result.to_dict())  # every result serialises


def test_spearman_averages_the_ranks_of_ties(ws: Workspace) -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0], "b": [5, 3, 4, 1, 2, 7, 6]})
    ws.snapshot("ties", frame)
    ranks = frame.rank()
    checks = parse_checks([{"correlation": ["a", "b"], "method": "spearman"}], "test")
    (result,) = ws.check_data("ties@1", checks)
    assert result.value == pytest.approx(ranks["a"].corr(ranks["b"]), rel=1e-12)
    assert result.value != pytest.approx(frame.rank(method="min")["a"].corr(ranks["b"]))


def test_a_warning_is_reported_but_does_not_fail(table_ws: Workspace) -> None:
    checks = parse_checks([{"column": "x", "max": 1, "severity": "warn"}], "test")
    (result,) = table_ws.check_data("t@1", checks)
    assert (result.passed, result.failed, result.severity) == (False, False, "warn")


# -- a bad check fails, never crashes --------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"column": "nope", "min": 0}, "t.nope.exists", "column 'nope' does not exist in t@1"),
    ({"column": "s", "mean": [0, 1]}, "t.s.mean", "'s' is string; mean needs a numeric column"),
    ({"column": "s", "std": [0, 1]}, "t.s.std", "std needs a numeric column"),
    ({"column": "c", "max_skew": 1}, "t.c.skewness", "skewness needs a numeric column"),
    ({"column": "s", "max_zero_fraction": 0}, "t.s.zero_fraction", "needs a numeric column"),
    ({"column": "s", "min": 0}, "t.s.min", "'s' is string: its minimum bound must be text"),
    ({"column": "x", "max": "z"}, "t.x.max", "'x' is double: its maximum bound must be a number"),
    ({"column": "x", "regex": "a.*"}, "t.x.regex", "'x' is double; regex needs a string column"),
    ({"correlation": ["x", "s"]}, "t.correlation.x.s", "column 's' is string, not numeric"),
    ({"correlation": ["nope", "x"]}, "t.correlation.nope.x", "column 'nope' does not exist"),
    ({"sql": "nope > 0"}, "t.sql", 'column "nope" not found'),
    ({"sql": "x >"}, "t.sql", "syntax error"),
    ({"drift": {"vs": "t@9"}}, "t.drift", "dataset 't' has no version 9"),
    ({"drift": {"vs": "other@1"}}, "t.drift", "dataset 'other' does not exist"),
    ({"drift": {"vs": "t@1", "columns": ["nope"]}}, "t.drift.nope", "'nope' is missing from t@1"),
]


@pytest.mark.parametrize(("check", "name", "needle"), BAD, ids=str)
def test_a_check_on_a_missing_column_or_of_the_wrong_type_fails_with_a_message(
    table_ws: Workspace, check: dict[str, Any], name: str, needle: str
) -> None:
    results = table_ws.check_data("t@1", parse_checks([check], "test"))
    assert [(r.name, r.passed, r.failed) for r in results] == [(name, False, True)]
    assert needle in results[0].message


def test_bad_checks_never_stop_the_suite(table_ws: Workspace) -> None:
    good = {"column": "n", "unique": True}
    checks = parse_checks([good, *(c for c, _, _ in BAD), good], "test")
    results = table_ws.check_data("t@1", checks)
    assert [r.name for r in results] == ["t.n.unique", *(n for _, n, _ in BAD), "t.n.unique"]
    assert [r.passed for r in results] == [True, *[False] * len(BAD), True]


def test_min_and_max_of_dates_compare_as_iso_text(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)  # `date` is a partition column
    checks = [{"column": "date", "min": "2024-01-01", "max": "2024-01-03"}]
    fresh = ws.check_data("sales@1", parse_checks(checks, "test"))
    stored = ws.check_data("sales@1", parse_checks(checks, "test"))  # from the stored profile
    for results in (fresh, stored):
        assert [(r.name, r.passed, r.value) for r in results] == [
            ("sales.date.min", True, "2024-01-01"),
            ("sales.date.max", True, "2024-01-03"),
        ]
    late = ws.check_data("sales@1", parse_checks([{"column": "date", "min": "2024-01-02"}], "t"))
    assert [r.passed for r in late] == [False]


def test_a_date_bound_written_as_a_yaml_date_works(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    text = "- {column: date, min: 2024-01-01, max: 2024-01-02}\n"  # unquoted: YAML dates
    opened = declare(ws.root, yaml.safe_load(text))
    results = opened.check_data("sales@1")
    assert [(r.name, r.passed, r.bound) for r in results] == [
        ("sales.date.min", True, ["2024-01-01", None]),
        ("sales.date.max", False, [None, "2024-01-02"]),
    ]
    opened.close()


def test_skewness_of_a_constant_column_says_why_it_is_missing(ws: Workspace) -> None:
    ws.snapshot("t", pd.DataFrame({"k": [3.0] * 20}))
    (result,) = ws.check_data("t@1", parse_checks([{"column": "k", "max_skew": 5}], "test"))
    assert result.failed and result.value is None
    assert "the column is constant" in result.message


# -- config mistakes name the key path -------------------------------------------------------

CONFIG_ERRORS: list[tuple[list[Any], str]] = [
    ([{"column": "amount", "max_skw": 5}], "datasets.sales.checks[0].max_skw: unknown key"),
    ([{"rows": [1, None]}, {"drift": {"max_pis": 1}}], "checks[1].drift.max_pis: unknown key"),
    ([{"column": "amount", "max_skew": "high"}], "checks[0].max_skew: Input should be a valid"),
    ([{"column": "amount", "severity": "fatal"}], "checks[0].severity: Input should be 'error'"),
    ([{"colum": "amount"}], "datasets.sales.checks[0]: a check needs one of column, correlation"),
    ([{"correlation": ["amount"]}], "datasets.sales.checks[0].correlation[1]: Field required"),
    ([{"rows": 5}], "datasets.sales.checks[0].rows: Input should be a valid"),
]


@pytest.mark.parametrize(("checks", "message"), CONFIG_ERRORS, ids=str)
def test_config_errors_name_the_key_path(
    ws: Workspace, sales: Path, checks: list[Any], message: str
) -> None:
    ws.snapshot("sales", sales)
    opened = declare(ws.root, checks)
    with pytest.raises(ConfigError) as info:
        opened.declared_checks("sales")
    assert message in info.value.message
    with pytest.raises(ConfigError) as again:  # nothing runs, nothing is recorded
        opened.check_data("sales@1")
    assert again.value.message == info.value.message
    with opened.db.sql() as conn:
        assert conn.execute("SELECT count(*) AS n FROM check_runs")[0]["n"] == 0
    opened.close()


# -- recorded results --------------------------------------------------------------------------


def test_every_check_run_is_recorded(checked: Workspace) -> None:
    first = checked.check_data("sales@1")
    checks = parse_checks([{"column": "amount", "max": 1}], "test")
    second = checked.check_data("sales@1", checks)
    with checked.db.sql() as conn:
        rows = conn.execute("SELECT * FROM check_runs ORDER BY id")
    assert [(r["subject"], r["kind"], r["run_id"], r["passed"]) for r in rows] == [
        ("sales@1", "data", None, 1),
        ("sales@1", "data", None, 0),
    ]
    assert json.loads(rows[0]["results"]) == [r.to_dict() for r in first]
    assert json.loads(rows[1]["results"]) == [r.to_dict() for r in second]


# -- pipelines: a step whose input fails its checks does not run -----------------------------

STEP = "python -c \"open('out.txt', 'w').write('ran')\""
NEXT = "python -c \"open('model.txt', 'w').write(open('out.txt').read())\""
STEPS = {
    "prepare": {
        "run": STEP,
        "inputs": ["datasets.sales@latest"],
        "outputs": {"out": "out.txt"},
    },
    "train": {"run": NEXT, "inputs": ["steps.prepare.out"], "outputs": {"model": "model.txt"}},
}


def pipeline_ws(ws: Workspace, sales: Path, checks: list[Any]) -> Workspace:
    ws.snapshot("sales", sales)
    return declare(ws.root, checks, steps=STEPS)


def check_rows(opened: Workspace) -> list[dict[str, Any]]:
    with opened.db.sql() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM check_runs ORDER BY id")]


def test_a_step_whose_input_fails_its_checks_does_not_run(ws: Workspace, sales: Path) -> None:
    opened = pipeline_ws(ws, sales, [{"column": "amount", "max": 0.5, "min": 0}])
    result = opened.run()
    assert result.status == "failed"
    steps = {s.step: s for s in result.steps}
    assert steps["prepare"].status == "failed"
    assert steps["prepare"].error is not None
    assert "data checks failed: sales.amount.max" in steps["prepare"].error
    assert steps["train"].status == "skipped"
    assert not (ws.root / "out.txt").exists() and not (ws.root / "model.txt").exists()
    assert opened.get_run(result.run_id).status == "failed"
    (row,) = check_rows(opened)
    assert (row["subject"], row["run_id"], row["passed"]) == ("sales@1", result.run_id, 0)
    recorded = {r["name"]: r["passed"] for r in json.loads(row["results"])}
    assert recorded == {"sales.amount.min": True, "sales.amount.max": False}
    opened.close()


def test_a_step_whose_input_passes_its_checks_runs(ws: Workspace, sales: Path) -> None:
    opened = pipeline_ws(ws, sales, [{"column": "amount", "min": 0, "max": 1}])
    result = opened.run()
    assert result.status == "succeeded", [s.error for s in result.steps]
    assert (ws.root / "model.txt").read_text() == "ran"
    (row,) = check_rows(opened)
    assert (row["subject"], row["run_id"], row["passed"]) == ("sales@1", result.run_id, 1)
    opened.close()


def test_a_mistake_in_the_checks_stops_the_step_with_the_key_path(
    ws: Workspace, sales: Path
) -> None:
    opened = pipeline_ws(ws, sales, [{"column": "amount", "max_skw": 5}])
    result = opened.run()
    steps = {s.step: s for s in result.steps}
    assert result.status == "failed" and steps["prepare"].status == "failed"
    assert steps["prepare"].error == "datasets.sales.checks[0].max_skw: unknown key"
    assert not (ws.root / "out.txt").exists()
    assert check_rows(opened) == []
    opened.close()


def test_checks_run_even_when_the_step_is_cached(ws: Workspace, sales: Path) -> None:
    opened = pipeline_ws(ws, sales, [{"column": "amount", "min": 0}])
    assert opened.run().status == "succeeded"
    stricter = declare(ws.root, [{"column": "amount", "max": 0.5}], steps=STEPS)
    result = stricter.run()
    assert {s.step: s.status for s in result.steps} == {"prepare": "failed", "train": "skipped"}
    assert [r["passed"] for r in check_rows(stricter)] == [1, 0]
    opened.close()
    stricter.close()


def test_a_column_check_without_a_bound_is_a_config_error() -> None:
    from mlcd.checks.spec import parse_checks
    from mlcd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"datasets.s.checks\[0\]: a column check needs a bound"):
        parse_checks([{"column": "amount"}], "datasets.s.checks")
