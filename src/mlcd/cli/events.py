"""`mlcd events ...`, `mlcd watch` and `mlcd hooks install`: the event log and what it triggers."""

from __future__ import annotations

from typing TYPE_CHECKING, Annotated
