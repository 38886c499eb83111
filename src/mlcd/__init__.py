"""mlcd: continuous delivery for machine learning.

The public API is small: open a workspace, snapshot and load datasets, and, inside a
pipeline step, read the run's pinned inputs and params and log metrics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlcd._version import __version__
from mlcd.errors import MlcdError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlcd.data.reader import DatasetReader
    from mlcd.data.snapshot import SnapshotResult
    from mlcd.pipeline.context import current_run, inputs, log_metric, log_param, params
    from mlcd.pipeline.seeds import seed_everything
    from mlcd.registry.entities import ModelVersion
    from mlcd.workspace import Workspace

__all__ = [
    "MlcdError",
    "Workspace",
    "__version__",
    "current_run",
    "inputs",
    "load",
    "load_model",
    "log_metric",
    "log_param",
    "open_workspace",
    "params",
    "register_model",
    "seed_everything",
    "snapshot",
]


_LAZY = {
    "Workspace": "mlcd.workspace",
    "current_run": "mlcd.pipeline.context",
    "inputs": "mlcd.pipeline.context",
    "log_metric": "mlcd.pipeline.context",
    "log_param": "mlcd.pipeline.context",
    "params": "mlcd.pipeline.context",
    "seed_everything": "mlcd.pipeline.seeds",
}


def __getattr__(name: str) -> Any:
    # imported on first use: every CLI command imports this package, and pydantic or even the
    # small run-context modules add up to a noticeable share of a 0.2 s command
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlcd' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def open_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace containing `path` (default: the current folder)."""
    from mlcd.workspace import Workspace

    return Workspace.find(path)


def load(
    ref: str,
    columns: str | Sequence[str] | None = None,
    partitions: str | None = None,
    *,
    verify: bool = True,
) -> DatasetReader:
    """Read a dataset version of the current workspace: `mlcd.load("sales@3").to_pandas()`."""
    from mlcd.workspace import Workspace

    return Workspace.find().load(ref, columns=columns, partitions=partitions, verify=verify)


def snapshot(
    name: str,
    source: str | os.PathLike[str] | pd.DataFrame | pa.Table | None = None,
    *,
    append: bool = False,
    message: str | None = None,
) -> SnapshotResult:
    """Snapshot a folder, file, DataFrame or Arrow table as the next version of `name`."""
    from mlcd.workspace import Workspace

    return Workspace.find().snapshot(name, source, append=append, message=message)


def register_model(name: str, model: Any, **options: Any) -> ModelVersion:
    """Register a model in the current workspace; see `Workspace.register_model`.

    Inside a pipeline step the version's lineage is the step's run: commit, params, seed,
    environment and the dataset versions pinned for it.
    """
    from mlcd.workspace import Workspace

    return Workspace.find().register_model(name, model, **options)


def load_model(ref: str, onnx: bool = False) -> Any:
    """Load `churn@3`, `churn@latest` or `churn@production`, verifying every blob."""
    from mlcd.workspace import Workspace

    return Workspace.find().load_model(ref, onnx=onnx)
