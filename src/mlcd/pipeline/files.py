"""Files and folders of the workspace by content: hashing (via the stat index), storing, restoring.

A folder is addressed by its tree: a JSON list of (relative path, blob, size) stored as a blob
itself, so an output folder, a code folder or an input folder has one content id.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.data.statcache import StatCache
from mlcd.errors import StepFailedError
from mlcd.store import ObjectStore, hash_bytes, hash_file


@dataclass(frozen=True)
class StoredPath:
    """A file or folder saved in the store: `blob` is the file, or the folder's tree."""

    path: str
    kind: str  # "file" or "dir"
    blob: str
    files: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "blob": self.blob,
            "files": self.files,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StoredPath:
        return cls(raw["path"], raw["kind"], raw["blob"], raw["files"], raw["size"])


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _tree(entries: list[tuple[str, str, int]]) -> bytes:
    return json.dumps({"files": entries}, separators=(",", ":")).encode()


class Hasher:
    """Content ids of workspace paths, re-hashing only files whose stat changed."""

    def __init__(self, root: Path, cache: StatCache) -> None:
        self.root = root
        self.cache = cache
        self._fresh: list[tuple[str, os.stat_result, str]] = []

    def file(self, path: Path) -> str:
        st = path.stat()
        known = self.cache.blob_of(str(path), st)
        if known is not None:
            return known
        blob = hash_file(path)
        self._fresh.append((str(path), st, blob))
        return blob

    def path(self, rel: str) -> str | None:
        """The content id of a file or folder (None when it does not exist)."""
        target = self.root / rel
        if target.is_file():
            return self.file(target)
        if target.is_dir():
            entries = [
                (p.relative_to(target).as_posix(), self.file(p), p.stat().st_size)
                for p in _walk(target)
            ]
            return hash_bytes(_tree(entries))
        return None

    def flush(self) -> None:
        self.cache.remember(self._fresh)
        self._fresh.clear()


def store_path(store: ObjectStore, root: Path, rel: str, hasher: Hasher | None) -> StoredPath:
    """Save the file or folder at `rel` in the store (deduplicated) and describe it; the
    hasher, if any, learns the stored files' stats so they need not be hashed again."""
    target = root / rel
    seen = hasher._fresh if hasher is not None else []
    if target.is_file():
        put = store.put_file(target)
        seen.append((str(target), target.stat(), put.blob))
        return StoredPath(rel, "file", put.blob, 1, put.size)
    if target.is_dir():
        entries = []
        for p in _walk(target):
            put = store.put_file(p)
            seen.append((str(p), p.stat(), put.blob))
            entries.append((p.relative_to(target).as_posix(), put.blob, put.size))
        tree = store.put_bytes(_tree(entries))
        return StoredPath(rel, "dir", tree.blob, len(entries), sum(e[2] for e in entries))
    raise StepFailedError(
        f"output {rel!r} was not written",
        hint="the step must create every path declared under outputs:",
    )


def tree_files(store: ObjectStore, stored: StoredPath) -> list[tuple[str, str, int]]:
    if stored.kind == "file":
        return [("", stored.blob, stored.size)]
    raw = json.loads(store.get_bytes(stored.blob))
    return [(p, b, s) for p, b, s in raw["files"]]


def all_present(store: ObjectStore, stored: list[StoredPath]) -> bool:
    """True when every blob of these paths is still in the store (else the cache can't restore)."""
    wanted: list[str] = []
    for s in stored:
        if s.kind == "dir":
            if not store.has(s.blob):
                return False
            wanted.extend(b for _, b, _ in tree_files(store, s))
        else:
            wanted.append(s.blob)
    return not store.missing(wanted)


def restore_path(store: ObjectStore, root: Path, stored: StoredPath, hasher: Hasher) -> bool:
    """Put a stored path back in the workspace; returns False when it was already identical."""
    target = root / stored.path
    if hasher.path(stored.path) == stored.blob:
        return False
    if stored.kind == "file":
        if target.is_dir():
            shutil.rmtree(target)
        store.get_file(stored.blob, target)
        return True
    if target.is_file():
        target.unlink()
    wanted = {p: b for p, b, _ in tree_files(store, stored)}
    if target.is_dir():
        for existing in _walk(target):
            if existing.relative_to(target).as_posix() not in wanted:
                existing.unlink()
    for rel, blob in wanted.items():
        dest = target / rel
        if not (dest.is_file() and hasher.file(dest) == blob):
            store.get_file(blob, dest)
    target.mkdir(parents=True, exist_ok=True)
    return True


def remove_path(root: Path, rel: str) -> None:
    target = root / rel
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
