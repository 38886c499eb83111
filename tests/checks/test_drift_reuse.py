"""Drift reads the reference's bins from its stored profile: only the new version is scanned."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlcd.checks.drift as drift
from mlcd.checks.spec import parse_checks
from mlcd.workspace import Workspace


def test_reference_bins_are_computed_once_and_stored(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    ws.snapshot("m", pd.DataFrame({"x": rng.normal(size=20_000)}))
    ws.snapshot("m", pd.DataFrame({"x": rng.normal(loc=1.0, size=20_000)}))
    checks = parse_checks([{"drift": {"vs": "parent", "max_psi": 0.2, "max_ks": 0.1}}], "c")
    first = {r.name: r for r in ws.check_data("m@2", checks)}
    assert not first["m.drift.x.psi"].passed and first["m.drift.x.psi"].value > 0.5
    assert not first["m.drift.x.ks"].passed and 0.3 < first["m.drift.x.ks"].value < 0.45

    def no_reference_scan(*args: object) -> list[float]:
        raise AssertionError("the reference was scanned again")

    monkeypatch.setattr(drift, "_edges", no_reference_scan)
    again = {r.name: r for r in ws.check_data("m@2", checks)}
    assert again["m.drift.x.psi"].value == first["m.drift.x.psi"].value
    assert again["m.drift.x.ks"].value == first["m.drift.x.ks"].value


def test_same_distribution_has_low_psi(ws: Workspace) -> None:
    rng = np.random.default_rng(1)
    ws.snapshot("s", pd.DataFrame({"x": rng.normal(size=20_000)}))
    ws.snapshot("s", pd.DataFrame({"x": rng.normal(size=20_000)}))
    checks = parse_checks([{"drift": {"vs": "parent", "max_psi": 0.05, "max_ks": 0.05}}], "c")
    results = ws.check_data("s@2", checks)
    assert all(r.passed for r in results), [(r.name, r.value) for r in results]
