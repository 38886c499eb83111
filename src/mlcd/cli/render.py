"""Rendering results for people (rich) and for scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: commands that print JSON never import rich."""

    def __init__(self, stderr: bool) -> None:
        self.stderr = stderr
        self.console: Console | None = None

    def get(self) -> Console:
        """The rich Console itself (what rich's own objects, such as Progress, want)."""
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=self.stderr, highlight=False, soft_wrap=True)
        return self.console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


out: Any = _LazyConsole(stderr=False)
err: Any = _LazyConsole(stderr=True)


def say(line: str) -> None:
    """One plain line of output: no rich import for the commands people run in loops."""
    print(line, flush=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(*columns, title=title, title_justify="left", header_style="bold")
    t.columns[0].no_wrap = True  # ids and names stay whole; other columns wrap
    for row in rows:  # values are data, never markup: "[production]" must print as is
        t.add_row(*(Text("" if v is None else str(v)) for v in row))
    out.print(t)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    from rich.text import Text

    pairs = list(pairs)
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        text = "" if value is None else str(value)
        out.print(Text.assemble((f"{key:<{width}}", "bold"), "  ", text))
