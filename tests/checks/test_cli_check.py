"""`mlcd check data` / `mlcd check all`: a table for people, `--json` for scripts, `--junit` for
CI systems; exit code 1 on any failed check, 0 when all pass, and config mistakes as one error
line. `mlcd run` stops before a step whose input fails its checks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlcd.workspace import Workspace
from tests.checks.test_data_checks import CHECKS, CLEAN_RESULTS, DAYS, STEPS, write_sales
from tests.cli.conftest import assert_error
from tests.conftest import invoke


def configure(root: Path, datasets: dict[str, Any], **top: Any) -> None:
    path = root / "mlcd.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(datasets=datasets, **top)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


FAILING = [
    {"column": "amount", "max": 50, "min": 0},  # amount ~ N(100, 10): max fails
    {"column": "channel", "in": ["web"], "severity": "warn"},  # fails, only a warning
    {"rows": [1, None]},
]


@pytest.fixture
def project(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sales@1 (clean, CHECKS declared) and returns@1 (FAILING declared); wide rich tables."""
    monkeypatch.setenv("COLUMNS", "250")
    ws.snapshot("sales", write_sales(ws.root / "data" / "sales", DAYS))
    ws.snapshot("returns", write_sales(ws.root / "data" / "returns", DAYS[:1]))
    configure(
        ws.root,
        {
            "sales": {"checks": CHECKS},
            "returns": {"checks": FAILING},
            "customers": {"source": "data/customers"},  # no checks: not part of `check all`
        },
    )
    return ws.root


def table_rows(out: str) -> dict[str, list[str]]:
    """The rows of a rich table: check name -> its other cells."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) > 1 and cells[0] and cells[0] != "check":
            rows[cells[0]] = cells[1:]
    return rows


def junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    return root


# -- check data --------------------------------------------------------------------------------


def test_check_data_passes_with_a_table_and_exit_0(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = invoke(capsys, "check", "data", "sales@1")
    assert r.code == 0, r.err
    rows = table_rows(r.out)
    assert list(rows) == CLEAN_RESULTS
    assert {cells[0] for cells in rows.values()} == {"pass"}
    assert f"{len(CLEAN_RESULTS)} checks, 0 failed" in r.out


def test_check_data_fails_with_exit_1_and_says_which(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = invoke(capsys, "check", "data", "returns")  # NAME alone: the latest version
    assert r.code == 1
    rows = table_rows(r.out)
    assert list(rows) == [
        "returns.amount.min",
        "returns.amount.max",
        "returns.channel.allowed",
        "returns.rows",
    ]
    assert rows["returns.amount.max"][:2] == ["FAIL", "130.7"]
    assert rows["returns.amount.max"][2] == "maximum 130.7 outside <= 50"
    assert rows["returns.amount.min"][0] == "pass"
    assert rows["returns.channel.allowed"][0] == "warn"
    assert rows["returns.rows"][:2] == ["pass", "400"]
    assert "4 checks, 1 failed" in r.out


def test_check_data_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = invoke(capsys, "check", "data", "returns@1", "--json")
    assert r.code == 1  # the JSON is still printed in full
    data = json.loads(r.out)
    assert [d["name"] for d in data] == [
        "returns.amount.min",
        "returns.amount.max",
        "returns.channel.allowed",
        "returns.rows",
    ]
    assert [d["passed"] for d in data] == [True, False, False, True]
    assert [d["severity"] for d in data] == ["error", "error", "warn", "error"]
    assert data[1]["bound"] == [None, 50.0] and data[1]["value"] > 50
    assert data[3]["value"] == 400
    assert set(data[0]) == {
        "name",
        "passed",
        "value",
        "bound",
        "message",
        "severity",
        "diagnostics",
    }
    ok = invoke(capsys, "check", "data", "sales@1", "--json")
    assert ok.code == 0 and [d["name"] for d in json.loads(ok.out)] == CLEAN_RESULTS


def test_check_data_junit(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = project / "reports" / "data.xml"  # its folder is made
    r = invoke(capsys, "check", "data", "returns@1", "--junit", report)
    assert r.code == 1
    suite = junit(report)
    cases = suite.findall("testcase")
    assert suite.get("name") == "data returns@1"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "0")
    assert [f"{c.get('classname')}.{c.get('name')}" for c in cases] == [
        "returns.amount.min",
        "returns.amount.max",
        "returns.channel.allowed",
        "returns.rows",
    ]
    failures = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["max"]
    failure = failures[0].find("failure")
    assert failure is not None and "outside <= 50" in (failure.get("message") or "")
    warned = cases[2].find("system-out")  # a warning is visible, not a failure
    assert warned is not None and (warned.text or "").startswith("warning: ")

    passing = project / "pass.xml"
    assert invoke(capsys, "check", "data", "sales@1", "--junit", passing).code == 0
    suite = junit(passing)
    assert suite.get("tests") == str(len(CLEAN_RESULTS)) and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == len(CLEAN_RESULTS)
    assert not suite.findall("testcase/failure")


def test_check_data_records_the_results(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    invoke(capsys, "check", "data", "returns@1")
    invoke(capsys, "check", "data", "sales@1")
    with Workspace(project) as ws, ws.db.sql() as conn:
        rows = conn.execute("SELECT subject, passed, run_id FROM check_runs ORDER BY id")
    assert [(r["subject"], r["passed"], r["run_id"]) for r in rows] == [
        ("returns@1", 0, None),
        ("sales@1", 1, None),
    ]


def test_a_dataset_without_checks_has_nothing_to_fail(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Workspace(project) as ws:
        ws.snapshot("plain", write_sales(project / "data" / "plain", DAYS[:1]))
    r = invoke(capsys, "check", "data", "plain@1", "--json")
    assert (r.code, json.loads(r.out)) == (0, [])


# -- check all ---------------------------------------------------------------------------------


def test_check_all_runs_every_declared_dataset(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = invoke(capsys, "check", "all", "--json", "--junit", project / "all.xml")
    assert r.code == 1  # returns fails
    names = [d["name"] for d in json.loads(r.out)]
    assert names == [
        *CLEAN_RESULTS,
        "returns.amount.min",
        "returns.amount.max",
        "returns.channel.allowed",
        "returns.rows",
    ]
    suite = junit(project / "all.xml")
    assert suite.get("tests") == str(len(names)) and suite.get("failures") == "1"
    table = invoke(capsys, "check", "all")
    assert table.code == 1 and f"{len(names)} checks, 1 failed" in table.out


def test_check_all_passes_when_every_dataset_passes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relaxed = [{**FAILING[0], "max": 1000}, *FAILING[1:]]
    configure(project, {"sales": {"checks": CHECKS}, "returns": {"checks": relaxed}})
    r = invoke(capsys, "check", "all")
    assert r.code == 0, r.out
    assert f"{len(CLEAN_RESULTS) + 4} checks, 0 failed" in r.out


# -- mistakes ------------------------------------------------------------------------------------


def test_a_config_mistake_is_one_error_line_naming_the_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(project, {"sales": {"checks": [{"column": "amount", "max_skw": 5}]}})
    for args in (["check", "data", "sales@1"], ["check", "all", "--json"]):
        assert_error(invoke(capsys, *args), "datasets.sales.checks[0].max_skw: unknown key")
    configure(project, {"sales": {"checks": [{"rows": [1, None]}, {"drift": {"max_pis": 1}}]}})
    assert_error(
        invoke(capsys, "check", "data", "sales@1", "--junit", project / "x.xml"),
        "datasets.sales.checks[1].drift.max_pis: unknown key",
    )
    assert not (project / "x.xml").exists()


@pytest.mark.parametrize(
    ("ref", "needle"), [("nope@1", "dataset 'nope' does not exist"), ("sales@7", "no version 7")]
)
def test_a_bad_ref_is_one_error_line(
    project: Path, capsys: pytest.CaptureFixture[str], ref: str, needle: str
) -> None:
    assert_error(invoke(capsys, "check", "data", ref), needle)


def test_a_bad_column_fails_its_check_without_crashing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(
        project,
        {
            "sales": {
                "checks": [
                    {"column": "nope", "min": 0},
                    {"column": "channel", "mean": [0, 1]},
                    {"correlation": ["amount", "channel"]},
                    {"sql": "nope > 1"},
                    {"rows": [1, None]},
                ]
            }
        },
    )
    r = invoke(capsys, "check", "data", "sales@1", "--json")
    assert r.code == 1 and "Traceback" not in r.err
    data = json.loads(r.out)
    assert [d["passed"] for d in data] == [False, False, False, False, True]
    assert "column 'nope' does not exist" in data[0]["message"]
    assert "mean needs a numeric column" in data[1]["message"]
    assert "'channel' is string, not numeric" in data[2]["message"]


# -- pipelines -----------------------------------------------------------------------------------


def test_mlcd_run_stops_before_a_step_whose_input_fails_its_checks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(project, {"sales": {"checks": FAILING[:1]}}, steps=STEPS)
    r = invoke(capsys, "run")
    assert r.code == 1
    assert "sales.amount.max" in r.out + r.err
    assert not (project / "out.txt").exists() and not (project / "model.txt").exists()
    with Workspace(project) as ws:
        (run,) = ws.runs()
        assert run.status == "failed"
        with ws.db.sql() as conn:
            rows = conn.execute("SELECT subject, run_id, passed FROM check_runs")
    assert [(x["subject"], x["run_id"], x["passed"]) for x in rows] == [("sales@1", run.id, 0)]
