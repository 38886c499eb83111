"""Check reports: JUnit XML (which CI systems display natively) and a terminal summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlcd.checks.result import CheckResult

if TYPE_CHECKING:
    from mlcd.meta import Database


def record_checks(
    db: Database, subject: str, kind: str, results: Sequence[CheckResult], run_id: str | None
) -> None:
    """Keep a suite's results with what they were about (`sales@3`, `churn@2`) and the run."""
    import json
    from datetime import UTC, datetime

    with db.sql(write=True) as conn:
        conn.execute(
            "INSERT INTO check_runs (subject, kind, run_id, passed, results, at)"
            " VALUES (:s, :k, :r, :p, :res, :at)",
            {
                "s": subject,
                "k": kind,
                "r": run_id,
                "p": int(not any(r.failed for r in results)),
                "res": json.dumps([r.to_dict() for r in results], default=str),
                "at": datetime.now(UTC),
            },
        )


def write_junit(results: Sequence[CheckResult], path: Path, suite: str = "mlcd") -> None:
    """One test case per check; a failed check (severity error) is a <failure>."""
    failures = sum(r.failed for r in results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for r in results:
        classname, _, name = r.name.rpartition(".")
        case = ET.SubElement(root, "testcase", classname=classname or suite, name=name or r.name)
        if r.failed:
            failure = ET.SubElement(case, "failure", message=r.message, type="CheckFailed")
            failure.text = f"measured {r.value!r}, bound {r.bound!r}\n{r.message}"
        elif not r.passed:  # a warning: visible, not failing
            ET.SubElement(case, "system-out").text = f"warning: {r.message}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
