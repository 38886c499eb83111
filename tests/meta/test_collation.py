"""Names, aliases and file paths sort bytewise, as Python sorts them, on every metadata DB: a
PostgreSQL database sorted like most servers (en-US) must not reorder what SQLite does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mlcd.workspace import Workspace
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

# en-US puts these in another order: it ignores case and punctuation at first
NAMES = ["B", "a-c", "a.b", "a_b", "ab", "a"]


def test_dataset_names_and_file_paths_sort_bytewise(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in NAMES:
        pd.DataFrame({"x": [1]}).to_parquet(src / f"{name}.parquet")
    for name in NAMES:
        ws.snapshot(name, src / f"{NAMES[0]}.parquet")
    ws.snapshot("files", src)
    assert [v.name for v in ws.datasets()] == sorted([*NAMES, "files"])
    paths = [f.path for f in ws.version("files@1", with_files=True).files]
    assert paths == sorted(f"{n}.parquet" for n in NAMES)


def test_model_names_and_aliases_sort_bytewise(ws: Workspace) -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    for name in NAMES:
        ws.register_model(name, model)
    assert [m.name for m in ws.models()] == sorted(NAMES)
    aliases = ["Prod", "a-x", "a_x", "ax"]
    for alias in aliases:
        ws.set_alias("a", alias, 1)
    assert list(ws.model("a@1").aliases) == sorted(aliases)
