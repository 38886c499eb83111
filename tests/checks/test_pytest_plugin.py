"""`pytest --mlcd` turns each declared data check into a test item named dataset::column::check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcd.workspace import Workspace

pytest_plugins = ["pytester"]


def test_declared_checks_become_items(pytester: pytest.Pytester) -> None:
    ws = Workspace.init(pytester.path)
    rng = np.random.default_rng(0)
    ws.snapshot(
        "sales", pd.DataFrame({"amount": rng.exponential(size=500) ** 3, "id": np.arange(500)})
    )
    ws.close()
    config = pytester.path / "mlcd.yaml"
    config.write_text(
        config.read_text().replace(
            "datasets: {}",
            "datasets:\n  sales:\n    checks:\n"
            "      - {column: amount, min: 0, max_skew: 2}\n"
            "      - {column: id, unique: true}\n"
            "      - {rows: [100, null]}\n",
        )
    )
    result = pytester.runpytest("--mlcd", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sales::amount::max_skew FAILED*",
            "*sales::amount::min PASSED*",
            "*sales::id::unique PASSED*",
            "*sales::rows PASSED*",
            "*|skewness|*outside*",
        ]
    )
    assert pytester.runpytest("-p", "no:cacheprovider").ret == pytest.ExitCode.NO_TESTS_COLLECTED
