"""What a check reports: it measured something, compared it to a bound, and passed or not.

A failing check is a result, never an exception (Hamilton's habit): the suite always finishes
and reports every failure, and a severity decides whether a failure stops anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    name: str  # dotted: "sales.amount.max_skew", "sales.drift.amount.psi"
    passed: bool
    value: Any = None  # what was measured
    bound: Any = None  # what it was compared to
    message: str = ""
    severity: str = "error"  # "error" fails the suite, "warn" only reports
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return not self.passed and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "bound": self.bound,
            "message": self.message,
            "severity": self.severity,
            "diagnostics": self.diagnostics,
        }


def run_named(
    calls: Mapping[str, Callable[[], CheckResult]], names: Iterable[str], kind: str
) -> list[CheckResult]:
    """Run checks by name: an unknown name, or a check that raises (the user's model failed
    on the data, say), is a failed result naming why; the suite always finishes."""
    from mlcd.errors import MlcdError

    results: list[CheckResult] = []
    for name in names:
        call = calls.get(name)
        if call is None:
            known = ", ".join(calls)
            message = f"unknown {kind} check {name!r}; known: {known}"
            results.append(CheckResult(f"model.{name}", False, message=message))
            continue
        try:
            results.append(call())
        except Exception as exc:
            text = exc.message if isinstance(exc, MlcdError) else f"{type(exc).__name__}: {exc}"
            results.append(CheckResult(f"model.{name}", False, message=f"could not run: {text}"))
    return results
