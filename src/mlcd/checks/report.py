"""Check reports: JUnit XML (which CI systems display natively) and a terminal summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from mlcd.checks.result import CheckResult


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
