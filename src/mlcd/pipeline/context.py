"""The run context a step sees: pinned inputs, params, seed, and logging of metrics and params.

The runner writes a JSON file per step and points `MLCD_CONTEXT` at it, so a step in any
language can read it; Python steps use `mlcd.inputs()`, `mlcd.params()`, `mlcd.log_metric()`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcd.errors import MlcdError

if TYPE_CHECKING:
    from mlcd.data.reader import DatasetReader

ENV_CONTEXT = "MLCD_CONTEXT"


@dataclass(frozen=True)
class RunContext:
    """What the runner tells a step about its run."""

    run_id: str
    step: str
    workspace: str
    seed: int
    params: dict[str, Any]
    datasets: dict[str, str]  # dataset name -> pinned ref (name@N)
    step_inputs: dict[str, str]  # "step.output" -> path
    outputs: dict[str, str]  # output name -> path
    log_file: str

    @classmethod
    def load(cls, path: str | Path) -> RunContext:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, default=str), encoding="utf-8")


def current_run() -> RunContext | None:
    """The context of the step this process runs for, or None outside `mlcd run`."""
    path = os.environ.get(ENV_CONTEXT)
    return RunContext.load(path) if path else None


def _require() -> RunContext:
    ctx = current_run()
    if ctx is None:
        raise MlcdError(
            "not inside an mlcd run",
            hint="run this code as a step of `mlcd run`, or use mlcd.load() directly",
        )
    return ctx


def inputs() -> dict[str, DatasetReader | Path]:
    """The step's inputs: datasets as readers of the version pinned at run start, step
    outputs (`"prepare.features"`) as paths."""
    ctx = _require()
    from mlcd.workspace import Workspace

    ws = Workspace(ctx.workspace)
    result: dict[str, DatasetReader | Path] = {n: ws.load(ref) for n, ref in ctx.datasets.items()}
    result.update({k: Path(ctx.workspace) / p for k, p in ctx.step_inputs.items()})
    return result


def params() -> dict[str, Any]:
    """The step's declared params, after `--set` overrides."""
    return _require().params


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric of the current step (call it many times with `step` for curves)."""
    number = float(value)
    if not math.isfinite(number):
        raise MlcdError(f"metric {name!r} is {value!r}, not a finite number")
    _append({"type": "metric", "name": name, "value": number, "step": step})


def log_param(name: str, value: Any) -> None:
    """Record a parameter the step chose itself (one not in params.yaml)."""
    json.dumps(value)  # refuse what cannot be stored, here rather than at the end of the run
    _append({"type": "param", "name": name, "value": value})


def _append(record: dict[str, Any]) -> None:
    ctx = _require()
    record["time"] = time.time()
    with open(ctx.log_file, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records a step logged (a half-written last line from a crash is ignored)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
