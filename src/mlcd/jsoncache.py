"""A one-entry JSON cache file: a value, and the key it was computed for.

For things that are slow to compute and cheap to key (a validated config, the installed
packages, parsed params): a missing, damaged or stale file just means computing again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read(path: Path, key: str) -> Any | None:
    """The cached value if it was stored under `key`, else None."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored.get("value")


def write(path: Path, key: str, value: Any) -> None:
    """Store atomically; a read-only workspace still works, only without the cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass
