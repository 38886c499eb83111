"""Writing a version's exact files out of the store, verified, for tools that want a folder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlcd.data.manifest import DatasetVersion
from mlcd.errors import SourceError
from mlcd.store import ObjectStore


def materialize(version: DatasetVersion, store: ObjectStore, dest: Path, workers: int = 8) -> int:
    """Write every file of `version` under `dest` at its original relative path; returns bytes.

    `dest` must be new or empty, so that the folder holds exactly the version afterwards.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SourceError(
            f"destination {dest} exists and is not an empty folder",
            hint="choose a new folder; materialize never overwrites files",
        )
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    targets = []
    for f in version.files:
        target = (root / f.path).resolve()
        if not target.is_relative_to(root):  # a manifest path must never escape dest
            raise SourceError(f"{version.ref} holds an unsafe path {f.path!r}")
        targets.append((f.blob, target))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda bt: store.get_file(*bt), targets))
    return sum(f.size for f in version.files)
