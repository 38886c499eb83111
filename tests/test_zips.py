"""skops files dumped twice differ only in zip timestamps: mlcd treats them as the same."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from mlcd.workspace import Workspace
from mlcd.zips import normalize, same_members


def _model() -> LogisticRegression:
    X = np.random.default_rng(0).normal(size=(50, 2))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


def test_same_members_ignores_timestamps_but_not_content(tmp_path: Path) -> None:
    model = _model()
    sio.dump(model, tmp_path / "a.skops")
    time.sleep(2.1)  # zip times have a 2 s resolution
    sio.dump(model, tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() != (tmp_path / "b.skops").read_bytes()
    assert same_members(tmp_path / "a.skops", tmp_path / "b.skops")
    normalize(tmp_path / "a.skops")
    normalize(tmp_path / "b.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    other = _model().set_params(C=0.5).fit(np.eye(2), [0, 1])
    sio.dump(other, tmp_path / "c.skops")
    assert not same_members(tmp_path / "a.skops", tmp_path / "c.skops")


def test_registering_the_same_model_twice_gives_the_same_artifact(ws: Workspace) -> None:
    model = _model()
    first = ws.register_model("m", model)
    time.sleep(2.1)
    second = ws.register_model("m", model)
    assert (first.number, second.number) == (1, 2)
    assert first.artifact == second.artifact


def test_determinism_check_accepts_a_skops_model_written_twice(ws: Workspace) -> None:
    (ws.root / "train.py").write_text(
        "import time, numpy as np, skops.io as sio\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X = np.random.default_rng(0).normal(size=(50, 2))\n"
        "m = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))\n"
        "time.sleep(2.1)\n"
        "sio.dump(m, 'model.skops')\n"
    )
    config = ws.root / "mlcd.yaml"
    config.write_text(
        config.read_text()
        + "steps:\n  train:\n    run: python train.py\n    outputs: {model: model.skops}\n"
    )
    result = Workspace(ws.root).run(check_determinism=True)
    assert result.status == "succeeded", [s.error for s in result.steps]
