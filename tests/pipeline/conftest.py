"""Real projects for pipeline tests, and the CLI run in-process or as a subprocess.

`project` is a workspace with a dataset `sales@1`, params.yaml, a package of steps and this
pipeline, already run once (so every step is cached):

    prepare  python -m proj.prepare   datasets.sales@latest -> features/   (params: prepare)
    train    proj.train:main          features/ -> model/, metrics.json    (params: train)
    report   python report.py         model/ + notes.md -> report.txt      (deps: proj/fmt.py)
    notes    sh -c ...                notes.md -> notes_count.txt          (independent)

`bare` is the `ws` workspace with an empty params.yaml, for tests that declare their own steps.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlcd.pipeline.runner import RunResult
from mlcd.workspace import Workspace
from tests.conftest import write_partitions

PARAMS = {
    "prepare": {"scale": 2},
    "train": {"lr": 0.01, "epochs": 3, "use_bias": True, "layers": [4, 2]},
    "report": {"title": "weekly"},
}

PREPARE = '''\
"""Features: the sales amounts of the pinned snapshot, scaled."""

import json
from pathlib import Path

import mlcd

sales = mlcd.inputs()["sales"]
scale = mlcd.params()["prepare"]["scale"]
table = sales.to_arrow()
out = Path("features")
out.mkdir(exist_ok=True)
amounts = sorted(round(a * scale, 6) for a in table.column("amount").to_pylist())
(out / "amounts.json").write_text(json.dumps(amounts))
(out / "source.txt").write_text(f"{sales.version.ref} {table.num_rows}\\n")
'''

TRAIN = '''\
"""A "model": the mean of the features times the learning rate, plus a random draw."""

import json
import random
from pathlib import Path

import mlcd


def main():
    params = mlcd.params()["train"]
    amounts = json.loads((mlcd.inputs()["prepare.features"] / "amounts.json").read_text())
    mean = sum(amounts) / len(amounts)
    out = Path("model")
    out.mkdir(exist_ok=True)
    (out / "weights.json").write_text(
        json.dumps({"w": mean * params["lr"], "draw": random.random(), "layers": params["layers"]})
    )
    for epoch in range(params["epochs"]):
        mlcd.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    ctx = mlcd.current_run()
    Path("metrics.json").write_text(
        json.dumps({"mean": mean, "eval": {"lr": params["lr"]}, "run": ctx.run_id})
    )
'''

REPORT = '''\
"""The report: the model's weights and the notes, formatted."""

import json
from pathlib import Path

from proj.fmt import line

weights = json.loads(Path("model/weights.json").read_text())
notes = Path("notes.md").read_text()
Path("report.txt").write_text(line(weights) + notes)
'''

FMT = "def line(weights):\n    return f\"w={weights['w']:.6f}\\n\"\n"

STEPS: dict[str, dict[str, Any]] = {
    "prepare": {
        "run": "python -m proj.prepare",
        "inputs": ["datasets.sales@latest"],
        "params": ["prepare"],
        "outputs": {"features": "features/"},
    },
    "train": {
        "run": "proj.train:main",
        "inputs": ["steps.prepare.features"],
        "params": ["train"],
        "outputs": {"model": "model/"},
        "metrics": "metrics.json",
    },
    "report": {
        "run": "python report.py",
        "inputs": ["steps.train.model", "notes.md"],
        "params": ["report.title"],
        "outputs": {"report": "report.txt"},
        "deps": ["proj/fmt.py"],
    },
    "notes": {
        "run": "sh -c 'wc -l < notes.md > notes_count.txt'",
        "inputs": ["notes.md"],
        "outputs": {"count": "notes_count.txt"},
    },
}


def write_config(root: Path, steps: dict[str, Any], **extra: Any) -> None:
    """Rewrite mlcd.yaml with these steps (the rest as `mlcd init` wrote it)."""
    path = root / "mlcd.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(extra, steps=steps)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write_params(root: Path, params: dict[str, Any]) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@dataclass
class Project:
    """A workspace root; `ws()` opens a fresh Workspace (mlcd.yaml may have changed)."""

    root: Path
    opened: list[Workspace] = field(default_factory=list)
    first_run: str = ""  # the run that filled the cache, for `project`

    def ws(self) -> Workspace:
        workspace = Workspace(self.root)
        self.opened.append(workspace)
        return workspace

    def configure(self, steps: dict[str, Any], **extra: Any) -> None:
        write_config(self.root, steps, **extra)

    def write(self, rel: str, text: str) -> Path:
        return write(self.root, rel, text)

    def run(self, *targets: str, **options: Any) -> RunResult:
        return self.ws().run(targets, **options)

    def close(self) -> None:
        for opened in self.opened:
            opened.close()


def statuses(result: RunResult) -> dict[str, str]:
    return {s.step: s.status for s in result.steps}


def build_project(root: Path) -> None:
    """The four-step project of this module's docstring, with `sales@1` snapshotted."""
    with Workspace.init(root) as ws:
        sales = write_partitions(
            root / "data" / "sales", ["2024-01-01", "2024-01-02", "2024-01-03"]
        )
        assert ws.snapshot("sales", sales).version.ref == "sales@1"
    write_params(root, PARAMS)
    write(root, "proj/__init__.py", "")
    write(root, "proj/prepare.py", PREPARE)
    write(root, "proj/train.py", TRAIN)
    write(root, "proj/fmt.py", FMT)
    write(root, "report.py", REPORT)
    write(root, "notes.md", "# notes\nfirst\n")
    write_config(root, STEPS)


@pytest.fixture(scope="session")
def _ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The project after one successful run of every step: copied by `project`, so each test
    starts with a warm cache without paying for the four step processes again."""
    root = tmp_path_factory.mktemp("template") / "ws"
    build_project(root)
    with Workspace(root) as ws:
        result = ws.run()
    assert result.status == "succeeded", [s.error for s in result.steps]
    return root, result.run_id


@pytest.fixture
def project(
    _ran: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """The project in tmp_path/ws (the current folder), run once: every step is cached."""
    template, run_id = _ran
    root = tmp_path / "ws"
    shutil.copytree(template, root, symlinks=True)
    monkeypatch.chdir(root)
    proj = Project(root, first_run=run_id)
    yield proj
    proj.close()


@pytest.fixture
def bare(ws: Workspace) -> Iterator[Project]:
    """The `ws` workspace with an empty params.yaml, for tests that declare their own steps."""
    write_params(ws.root, {})
    proj = Project(ws.root)
    yield proj
    proj.close()


# -- the CLI ---------------------------------------------------------------------------------


from tests.conftest import Cli as Cli  # noqa: E402
from tests.conftest import Result as Result  # noqa: E402


def mlcd_process(*args: str | Path, cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    """`mlcd ARGS` as a real process (`python -m mlcd`) in `cwd`."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlcd", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
