"""Options given before the command (`mlcd --quiet data ...`), shared with every command."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    quiet: bool = False
    verbose: bool = False


options = Options()
