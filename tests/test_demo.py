"""`mlcd demo`: the README's first command walks through data, checks, a pipeline and the
registry in a fresh workspace, and leaves that workspace for the user to explore."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlcd.workspace import Workspace
from tests.cli.conftest import assert_error, mlcd


@pytest.mark.slow
def test_demo_runs_end_to_end_and_leaves_a_workspace(tmp_path: Path) -> None:
    done = mlcd("demo", "tour", cwd=tmp_path, timeout=300)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    numbered = [line.split(".")[0] for line in lines if line[:2].rstrip(".").isdigit()]
    assert numbered == [str(n) for n in range(1, 13)], done.out
    assert "nothing changed -> new version: False" in done.out
    assert "9 of 9 checks passed" in done.out
    assert "step train cached" in done.out and "3 of 3 passed" in done.out

    with Workspace(tmp_path / "tour") as ws:
        assert [v.ref for v in ws.log("transactions")] == ["transactions@2", "transactions@1"]
        assert ws.version("transactions@2").rows == 6000
        model = ws.model("big-basket@staging")
        assert model.ref == "big-basket@1" and model.flavor == "sklearn"
        runs = ws.runs()
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        assert ws.used_by("transactions@2")["models"], "the model's lineage names its data"
        frame = ws.load("transactions@2").to_pandas()
        assert ws.load_model("big-basket@staging").predict(_features(frame.head(5))).shape == (5,)

    again = mlcd("demo", "tour", cwd=tmp_path)
    assert_error(again, "already holds a workspace")


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    x = pd.get_dummies(frame[["items", "channel"]], columns=["channel"], dtype=float)
    return x[["items", "channel_app", "channel_store", "channel_web"]]
