"""`pytest --mlcd`: every check declared in mlcd.yaml becomes a test item.

Items are named `dataset::column::check` (`sales::amount::max_skew`), so a CI system shows
data tests next to code tests. The dataset's profile is computed once and shared by its items.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SKIP_KEYS = {"column", "severity", "name"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlcd")
    group.addoption("--mlcd", action="store_true", help="Collect mlcd.yaml's declared checks.")
    group.addoption("--mlcd-workspace", default=None, help="Workspace folder (default: cwd).")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if not config.getoption("--mlcd") or file_path.name != "mlcd.yaml":
        return None
    wanted = config.getoption("--mlcd-workspace")
    if wanted is not None and file_path.parent.resolve() != Path(wanted).resolve():
        return None
    result: pytest.Collector = MlcdFile.from_parent(parent, path=file_path)
    return result


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.getoption("--mlcd"):  # collect this workspace even when it is outside testpaths
        root = Path(config.getoption("--mlcd-workspace") or Path.cwd())
        if (root / "mlcd.yaml").exists() and str(root) not in map(str, config.args):
            config.args.append(str(root / "mlcd.yaml"))


class MlcdFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from mlcd.workspace import Workspace

        ws = Workspace(self.path.parent)
        for name in ws.config.datasets:
            for i, check in enumerate(ws.declared_checks(name)):
                for label, single in _split(check):
                    yield CheckItem.from_parent(
                        self, name=f"{name}::{label}", dataset=name, check=single, index=i
                    )


def _split(check: Any) -> list[tuple[str, Any]]:
    """One item per bound of a column check; other checks are one item each."""
    from mlcd.checks.spec import ColumnCheck

    if isinstance(check, ColumnCheck):
        keys = [k for k in check.model_fields_set if k not in _SKIP_KEYS]
        out = []
        for key in sorted(keys):
            alias = "in" if key == "allowed" else key
            value = getattr(check, key)
            single = ColumnCheck.model_validate(
                {"column": check.column, "severity": check.severity, alias: value}
            )
            out.append((f"{check.column}::{alias}", single))
        return out
    kind = type(check).__name__.removesuffix("Check").lower()
    label = check.name or kind
    if kind == "correlation":
        label = f"{check.correlation[0]}::{check.correlation[1]}::correlation"
    return [(label, check)]


class CheckItem(pytest.Item):
    def __init__(self, *, dataset: str, check: Any, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.check = check
        self.index = index

    def runtest(self) -> None:
        from mlcd.checks.data import run_data_checks
        from mlcd.workspace import Workspace

        ws = Workspace(self.path.parent)
        results = run_data_checks(ws, ws.load(f"{self.dataset}@latest"), [self.check])
        failed = [r for r in results if r.failed]
        if failed:
            raise CheckFailed("; ".join(f"{r.name}: {r.message}" for r in failed))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.index, f"mlcd check {self.name}"


class CheckFailed(Exception):
    """A declared data check failed (its message says what was measured)."""
