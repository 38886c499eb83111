"""Profiles: every column's statistics, right (compared with pandas), computed once per content
and reused; `mlcd data profile` renders a self-contained HTML report, and `--suggest` proposes
checks that pass on the version they were derived from."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from mlcd.checks import stats
from mlcd.checks.profile import get_profile
from mlcd.checks.spec import parse_checks
from mlcd.workspace import Workspace
from tests.checks.test_cli_check import invoke
from tests.checks.test_data_checks import DAYS, write_sales
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

N = 2000


def mixed(seed: int = 0, rows: int = N) -> pa.Table:
    """Every kind of column, with nulls and zeros, plus values that trip naive rounding."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(2, 1, rows)
    amount[rng.random(rows) < 0.1] = 0.0
    return pa.table(
        {
            "id": pa.array(np.arange(rows), pa.int64()),
            "amount": pa.array(amount, mask=rng.random(rows) < 0.05),
            "items": pa.array(rng.integers(0, 5, rows), pa.int64()),
            "constant": pa.array(np.full(rows, 1.2356)),  # 3 digits up would be 1.24 > 1.2356
            "big": pa.array(123_556_789 + rng.integers(0, 10, rows), pa.int64()),
            "channel": pa.array(rng.choice(["web", "app", "store"], rows), pa.string()),
            "note": pa.array([f"n{i % 1500}" for i in range(rows)], pa.string()),
            "flag": pa.array(rng.random(rows) < 0.3),
            "at": pa.array([datetime(2024, 1, 1, i % 24) for i in range(rows)], pa.timestamp("us")),
        }
    )


def profile_rows(ws: Workspace) -> int:
    with ws.db.sql() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM profiles")[0]["n"])


def forbid(name: str) -> Callable[..., NoReturn]:
    def called(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"{name} was called")

    return called


# -- the statistics ------------------------------------------------------------------------------


def test_every_statistic_matches_pandas(ws: Workspace) -> None:
    table = mixed()
    ws.snapshot("t", table)
    profile = ws.profile("t@1")
    frame = table.to_pandas()
    assert list(profile) == list(frame.columns)
    for name, s in profile.items():
        col = frame[name]
        counts = col.value_counts()
        assert (s.rows, s.nulls, s.distinct) == (N, int(col.isna().sum()), col.nunique()), name
        assert s.mode_count == counts.iloc[0], name
        assert s.mode_share == pytest.approx(counts.iloc[0] / col.notna().sum()), name
        assert s.mode in set(counts[counts == counts.iloc[0]].index), name
        assert (s.min, s.max) == (col.min(), col.max()), name
        if s.kind != "numeric":
            assert s.zeros is None and s.mean is None and s.histogram is None
            continue
        assert s.zeros == int((col == 0).sum()), name
        assert s.mean == pytest.approx(col.mean(), rel=1e-12), name
        assert s.std == pytest.approx(col.std(), rel=1e-9, abs=1e-12), name
        if col.std() > 0:
            assert s.skewness == pytest.approx(col.skew(), rel=1e-6), name
        assert s.histogram is not None and len(s.histogram["edges"]) == 21
        assert sum(s.histogram["counts"]) == col.notna().sum(), name
        assert s.quantiles["0.5"] == pytest.approx(col.median(), rel=0.05, abs=0.05), name
    assert profile["constant"].skewness is None  # undefined, not rounding noise
    assert [profile[c].kind for c in ("channel", "flag", "at")] == ["string", "boolean", "temporal"]
    assert profile["channel"].categories == {
        str(k): int(v) for k, v in frame["channel"].value_counts().items()
    }
    assert profile["note"].categories is None  # 1500 values: too many to keep


def test_columns_with_many_values_take_the_aggregate_path(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "MAX_CATEGORIES", 2)
    frame = pd.DataFrame({"s": ["b", "c", "c", "a", None, "d", "c"]})
    ws.snapshot("t", frame)
    s = ws.profile("t@1")["s"]
    assert (s.distinct, s.min, s.max, s.mode, s.mode_count, s.categories) == (
        4,
        "a",
        "d",
        "c",
        3,
        None,
    )


def test_categorical_and_nested_columns_are_profiled(ws: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", "a", None]),  # Arrow: dictionary<..., indices=int8>
            "codes": pd.Categorical([1, 2, 2, 2]),
            "x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
        "tags", pa.array([[1, 2], [3], None, [3]], pa.list_(pa.int64()))
    )
    ws.snapshot("t", table)
    profile = ws.profile("t@1")
    assert [profile[c].kind for c in ("cat", "codes", "x", "tags")] == [
        "string",
        "numeric",
        "numeric",
        "other",
    ]
    assert profile["cat"].categories == {"a": 2, "b": 1}
    assert (profile["codes"].mean, profile["codes"].mode) == (1.75, 2)
    assert (profile["tags"].distinct, profile["tags"].nulls) == (2, 1)
    checks = parse_checks([{"column": "cat", "in": ["a", "b"]}, {"column": "x", "max": 4}], "t")
    assert [r.passed for r in ws.check_data("t@1", checks)] == [True, True]


def test_partition_columns_come_from_the_manifest(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    date = ws.profile("sales@1")["date"]
    assert (date.rows, date.distinct, date.categories) == (
        300,
        3,
        {"2024-01-01": 100, "2024-01-02": 100, "2024-01-03": 100},
    )
    assert str(date.min) == "2024-01-01" and str(date.max) == "2024-01-03"


# -- computed once, reused -------------------------------------------------------------------


def test_the_profile_is_computed_once_and_reused(
    ws: Workspace, sales: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.snapshot("sales", sales)
    first = ws.profile("sales@1")
    assert profile_rows(ws) == 1
    monkeypatch.setattr(stats, "compute", forbid("compute"))
    monkeypatch.setattr(stats, "add_distributions", forbid("add_distributions"))
    again = ws.profile("sales@1")
    assert list(again) == list(first)  # in the schema's order
    for name, s in again.items():
        assert s.to_dict() == first[name].to_dict()
    assert again["amount"].histogram == first["amount"].histogram  # lists, not their text
    assert isinstance(again["amount"].histogram["counts"], list)  # type: ignore[index]
    checks = parse_checks(
        [{"column": "amount", "max": 2}, {"column": "channel", "in": ["web"]}], "t"
    )
    assert [r.passed for r in ws.check_data("sales@1", checks)] == [True, False]
    assert profile_rows(ws) == 1
    with pytest.raises(AssertionError, match="compute was called"):  # the patch does bite
        get_profile(ws, ws.load("sales@1"), refresh=True)


def test_a_check_run_stores_the_profile_the_report_completes(
    ws: Workspace, sales: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.snapshot("sales", sales)
    ws.check_data("sales@1", parse_checks([{"column": "amount", "min": 0}], "t"))
    assert profile_rows(ws) == 1
    stored = get_profile(ws, ws.load("sales@1"))
    assert stored["amount"].histogram is None and stored["amount"].quantiles == {}
    monkeypatch.setattr(stats, "compute", forbid("compute"))
    report = ws.profile("sales@1")  # adds quantiles and histograms, recomputes nothing else
    assert report["amount"].histogram is not None and report["amount"].quantiles
    assert sum(report["items"].histogram["counts"]) == 300  # type: ignore[index]
    assert report["amount"].mean == stored["amount"].mean
    assert profile_rows(ws) == 1
    monkeypatch.setattr(stats, "add_distributions", forbid("add_distributions"))
    assert ws.profile("sales@1")["amount"].histogram == report["amount"].histogram


def test_drift_reuses_both_versions_profiles(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_sales(ws.root / "data" / "sales", DAYS)
    ws.snapshot("sales", source)
    write_sales(source, ["2024-01-04"], start=3, drifted=True)
    ws.snapshot("sales", source)
    drift = parse_checks([{"drift": {"columns": ["amount"], "max_psi": 0.2}}], "t")
    first = ws.check_data("sales@2", drift)
    assert profile_rows(ws) == 2  # sales@2, and its parent sales@1
    monkeypatch.setattr(stats, "compute", forbid("compute"))
    assert ws.check_data("sales@2", drift) == first
    assert [r.passed for r in first] == [False]


def test_identical_content_is_profiled_once(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    ws.snapshot("copy", sales)
    assert ws.version("sales@1").content_id == ws.version("copy@1").content_id
    ws.profile("sales@1")
    ws.profile("copy@1")
    assert profile_rows(ws) == 1


# -- `mlcd data profile` ---------------------------------------------------------------------------


def test_profile_table_and_json(
    ws: Workspace, sales: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    ws.snapshot("sales", sales)
    r = invoke(capsys, "data", "profile", "sales@1")
    assert r.code == 0, r.err
    assert "sales@1: 300 rows" in r.out
    for column in ("amount", "items", "channel", "date"):
        assert column in r.out
    data = invoke(capsys, "data", "profile", "sales", "--json").json()
    assert (data["ref"], data["rows"]) == ("sales@1", 300)
    assert list(data["columns"]) == ["amount", "items", "channel", "date"]
    assert data["columns"]["channel"]["distinct"] == 2
    assert data["columns"]["items"]["zero_fraction"] == pytest.approx(
        ws.profile("sales@1")["items"].zero_fraction
    )


def html_report(ws: Workspace, capsys: pytest.CaptureFixture[str], table: pa.Table) -> str:
    ws.snapshot("t", table)
    r = invoke(capsys, "data", "profile", "t@1", "--html", ws.root / "report.html")
    assert r.code == 0, r.err
    assert "wrote" in r.err
    return (ws.root / "report.html").read_text()


def test_the_html_report_is_self_contained(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    table = mixed()
    html = html_report(ws, capsys, table)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"https?://|//[a-z]", html, re.I)  # nothing fetched from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|url\(", html, re.I)
    summary = html[html.index('<table id="summary">') : html.index("</table>")]
    assert summary.count("<tr>") == 1 + table.num_columns
    for name in table.column_names:
        assert f">{name}</a>" in summary and f">{name} <small>" in html
    numeric = [c for c in table.column_names if c not in ("channel", "note", "flag", "at")]
    assert html.count("<svg") == len(numeric)
    assert html.count("<rect") == 20 * len(numeric)
    assert "Profile of t@1" in html and "2,000 rows" in html


def test_the_html_report_from_the_stored_profile_is_the_same(
    ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = html_report(ws, capsys, mixed())
    monkeypatch.setattr(stats, "compute", forbid("compute"))
    r = invoke(capsys, "data", "profile", "t@1", "--html", ws.root / "again.html")
    assert r.code == 0, r.err
    assert (ws.root / "again.html").read_text() == first


def test_the_html_report_escapes_names_and_values(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pa.table({"a<b>&c": [1.0, 2.0, 3.0], "tag": ["<script>x</script>", "b", "b"]})
    html = html_report(ws, capsys, table)
    assert "a&lt;b&gt;&amp;c" in html and "a<b>" not in html
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


# -- `--suggest` ---------------------------------------------------------------------------------


def suggest(capsys: pytest.CaptureFixture[str], ref: str) -> list[dict[str, Any]]:
    r = invoke(capsys, "data", "profile", ref, "--suggest")
    assert r.code == 0, r.err
    block = yaml.safe_load(r.out)
    (name,) = block["datasets"]
    return list(block["datasets"][name]["checks"])


def paste(root: Path, dataset: str, checks: list[dict[str, Any]]) -> None:
    """What a person does: paste the suggested block into mlcd.yaml."""
    path = root / "mlcd.yaml"
    config = yaml.safe_load(path.read_text())
    config["datasets"] = {dataset: {"checks": checks}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_suggested_checks_pass_on_the_version_they_came_from(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.snapshot("t", mixed())
    checks = suggest(capsys, "t@1")
    paste(ws.root, "t", checks)
    r = invoke(capsys, "check", "data", "t@1", "--json")
    results = json.loads(r.out)
    assert r.code == 0, [x["message"] for x in results if not x["passed"]]
    assert all(x["passed"] for x in results)
    kinds = {k for c in checks for k in c}
    assert kinds >= {"rows", "column", "dtype", "min", "max", "max_null_fraction", "unique"}
    assert kinds >= {"max_zero_fraction", "max_skew", "in", "drift"}
    by_column = {c["column"]: c for c in checks if "column" in c}
    assert by_column["constant"]["min"] <= 1.2356 <= by_column["constant"]["max"]
    assert by_column["big"]["min"] <= 123_556_789
    assert by_column["id"]["unique"] is True
    assert by_column["channel"]["in"] == ["app", "store", "web"]
    assert len(results) > 30


def test_suggested_checks_catch_a_changed_version(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.snapshot("t", mixed())
    paste(ws.root, "t", suggest(capsys, "t@1"))
    changed = mixed(seed=1).to_pandas()
    changed["amount"] = changed["amount"] * 10  # new range, more skew
    changed.loc[::3, "channel"] = "kiosk"
    changed.loc[::4, "items"] = None
    ws.snapshot("t", changed)
    r = invoke(capsys, "check", "data", "t@2", "--json")
    assert r.code == 1
    failed = {x["name"] for x in json.loads(r.out) if not x["passed"]}
    assert {"t.amount.max", "t.channel.allowed", "t.items.null_fraction"} <= failed
    assert "t.drift.amount.psi" in failed


def test_suggest_round_trips_on_partitioned_data(
    ws: Workspace, sales: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.snapshot("sales", sales)
    paste(ws.root, "sales", suggest(capsys, "sales@1"))
    r = invoke(capsys, "check", "data", "sales@1")
    assert r.code == 0, r.out
    assert "0 failed" in r.out


# -- in a browser ----------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_the_report_renders_in_a_browser(
    ws: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    table = mixed()
    html_report(ws, capsys, table)
    page_file = tmp_path / "offline" / "report.html"  # a copy alone in its folder
    page_file.parent.mkdir()
    shutil.copy(ws.root / "report.html", page_file)
    numeric = ["id", "amount", "items", "constant", "big"]
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda req: requests.append(req.url))
            page.goto(page_file.as_uri())
            assert page.title() == "Profile of t@1"
            rows = page.locator("#summary tr")
            assert rows.count() == 1 + table.num_columns
            shown = [rows.nth(i).locator("td").first.inner_text() for i in range(1, rows.count())]
            assert shown == table.column_names
            assert page.locator("#summary").is_visible()
            charts = page.locator("svg")
            assert charts.count() == len(numeric)
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50
                heights = (
                    charts.nth(i)
                    .locator("rect")
                    .evaluate_all("rects => rects.map(r => r.getBBox().height)")
                )
                assert len(heights) == 20 and max(heights) > 0
            headings = page.locator("h2").all_inner_texts()
            assert [h.split()[0] for h in headings] == table.column_names
            page.locator("#summary a", has_text="amount").click()
            assert page.url.endswith("#col-2")
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]  # the page asked for nothing else
