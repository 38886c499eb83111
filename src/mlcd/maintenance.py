"""Keeping the store and the metadata DB in agreement: `fsck` and `gc`.

Every blob the DB refers to is *reachable*: dataset files, step outputs (a folder output is a
tree blob listing its files), step logs, cached step outputs, model artifacts (trees too), their
examples and ONNX twins, and data profiles. `fsck` checks that each reachable blob is stored and
intact. `gc` deletes stored blobs nothing reaches, once they are older than a grace period: a
snapshot or a run stores its blobs before it commits the rows that refer to them, so a young
unreferenced blob may belong to work still in flight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blake3 import blake3

from mlcd.errors import IntegrityError, MlcdError, NotFoundError
from mlcd.store.base import CHUNK, blob_id
from mlcd.store.marks import find_marks

if TYPE_CHECKING:
    from mlcd.meta.db import SqlConnection
    from mlcd.store import ObjectStore
    from mlcd.store.base import BlobStat
    from mlcd.workspace import Workspace


DEFAULT_GRACE_S = 3600.0  # a blob younger than this may belong to work still in flight
TEMP_GRACE_S = 86400.0  # a staged file younger than this may still be committed


@dataclass(frozen=True)
class Problem:
    """A reachable blob that is missing or damaged, and the first thing that refers to it."""

    blob: str
    kind: str  # "missing", "corrupt", or "inconsistent" (a dataset version's rows disagree)
    used_by: str
    detail: str = ""

    def summary(self) -> dict[str, str]:
        return {
            "blob": self.blob,
            "problem": self.kind,
            "used_by": self.used_by,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class FsckReport:
    reachable: int = 0
    stored: int = 0
    verified: int = 0
    problems: list[Problem] = field(default_factory=list)
    unreferenced: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reachable": self.reachable,
            "stored": self.stored,
            "verified": self.verified,
            "unreferenced": self.unreferenced,
            "problems": [p.summary() for p in self.problems],
        }


# -- what the DB refers to --------------------------------------------------------------------


def references(ws: Workspace) -> tuple[dict[str, str], list[Problem]]:
    """Every reachable blob -> a description of its first referrer, and the tree blobs that
    could not be read (their files cannot be listed)."""
    refs: dict[str, str] = {}
    trees: dict[str, str] = {}
    with ws.db.sql() as conn:
        _dataset_files(conn, refs)
        _runs(conn, refs, trees)
        _models(conn, refs, trees)
        for row in conn.execute("SELECT content_id, blob FROM profiles"):
            refs.setdefault(row["blob"], f"profile of {row['content_id']}")
    problems = []
    for tree, owner in trees.items():
        refs.setdefault(tree, owner)
        try:
            listing = json.loads(ws.store.get_bytes(tree))["files"]
        except (NotFoundError, IntegrityError, ValueError, KeyError) as exc:
            kind = "missing" if isinstance(exc, NotFoundError) else "corrupt"
            problems.append(Problem(tree, kind, owner, "a folder listing: its files are unknown"))
            continue
        for rel, blob, _size in listing:
            refs.setdefault(blob, f"{owner}: {rel}")
    return refs, problems


def _dataset_files(conn: SqlConnection, refs: dict[str, str]) -> None:
    rows = conn.execute(
        "SELECT d.name, v.number, f.path, f.blob FROM dataset_files f"
        " JOIN dataset_versions v ON v.id = f.version_id JOIN datasets d ON d.id = v.dataset_id"
        " ORDER BY d.name, v.number"
    )
    for row in rows:
        refs.setdefault(row["blob"], f"{row['name']}@{row['number']}: {row['path']}")


def _outputs(raw: str, owner: str, refs: dict[str, str], trees: dict[str, str]) -> None:
    for name, out in json.loads(raw).items():
        target = trees if out.get("kind") == "dir" else refs
        target.setdefault(out["blob"], f"{owner} output {name} ({out.get('path', '')})")


def _runs(conn: SqlConnection, refs: dict[str, str], trees: dict[str, str]) -> None:
    for row in conn.execute("SELECT run_id, step, outputs, stdout, stderr FROM run_steps"):
        owner = f"run {row['run_id']} step {row['step']}"
        _outputs(row["outputs"], owner, refs, trees)
        for stream in ("stdout", "stderr"):
            if row[stream]:
                refs.setdefault(row[stream], f"{owner} {stream}")
    for row in conn.execute("SELECT key, step, outputs FROM step_cache"):
        _outputs(row["outputs"], f"cache of step {row['step']} ({row['key'][:15]})", refs, trees)


def _models(conn: SqlConnection, refs: dict[str, str], trees: dict[str, str]) -> None:
    rows = conn.execute(
        "SELECT m.name, v.number, v.artifact, v.example, v.onnx FROM model_versions v"
        " JOIN models m ON m.id = v.model_id ORDER BY m.name, v.number"
    )
    for row in rows:
        owner = f"{row['name']}@{row['number']}"
        trees.setdefault(row["artifact"], f"{owner} artifact")
        for col in ("example", "onnx"):
            if row[col]:
                refs.setdefault(row[col], f"{owner} {col}")


# -- fsck ----------------------------------------------------------------------------------------


def fsck(
    ws: Workspace,
    verify: bool = True,
    repair: bool = False,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> FsckReport:
    """Check every reachable blob is stored and (with `verify`) hashes to its id.

    `repair` deletes the corrupt ones: their content is lost either way, and a stored blob is
    never overwritten, so only then can a new snapshot, run or registration store it afresh.
    """
    refs, problems = references(ws)
    problems += _inconsistent_versions(ws)
    store = ws.store
    stored = set(store.iter_blobs())
    report = FsckReport(reachable=len(refs), stored=len(stored), problems=problems)
    own_marks = {
        b for b, m in find_marks(store, stored - refs.keys()).items() if m.database_id == ws.db.id
    }
    report.unreferenced = len(stored - refs.keys() - own_marks)  # its marks are not garbage
    listed = {p.blob for p in problems}
    for blob in sorted(refs.keys() - stored - listed):
        report.problems.append(Problem(blob, "missing", refs[blob]))
    if verify:
        todo = sorted((refs.keys() & stored) - listed)

        def check(blob: str) -> str | None:
            actual = _hash_stored(store, blob)
            if progress is not None:
                progress(1, len(todo))  # (blobs just re-hashed, blobs to re-hash)
            return actual

        with ThreadPoolExecutor(workers) as pool:
            for blob, actual in zip(todo, pool.map(check, todo), strict=True):
                report.verified += 1
                if actual != blob:
                    detail = f"content hashes to {actual}" if actual else "unreadable"
                    if repair:
                        store.delete(blob)
                        detail += "; removed"
                    report.problems.append(Problem(blob, "corrupt", refs[blob], detail))
    return report


def _inconsistent_versions(ws: Workspace) -> list[Problem]:
    """Dataset versions whose file rows disagree with the version row: its content id, file
    count, rows or bytes (a half-written version would show here)."""
    from mlcd.data.manifest import FileEntry, content_id

    with ws.db.sql() as conn:
        versions = conn.execute(
            "SELECT v.id, d.name, v.number, v.content_id, v.format, v.files, v.rows, v.bytes"
            " FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"
            " ORDER BY d.name, v.number"
        )
        files = conn.execute("SELECT version_id, path, blob, size, rows FROM dataset_files")
    by_version: dict[int, list[FileEntry]] = {}
    for f in files:
        entry = FileEntry(f["path"], f["blob"], f["size"], f["rows"])
        by_version.setdefault(f["version_id"], []).append(entry)
    problems = []
    for v in versions:
        entries = by_version.get(v["id"], [])
        found = (len(entries), sum(e.rows for e in entries), sum(e.size for e in entries))
        expected = (v["files"], v["rows"], v["bytes"])
        if content_id(v["format"], entries) != v["content_id"] or found != expected:
            detail = (
                f"its files give content {content_id(v['format'], entries)}, "
                f"{found[0]} files, {found[1]} rows, {found[2]} bytes; "
                f"the version says {expected[0]} files, {expected[1]} rows, {expected[2]} bytes"
            )
            ref = f"{v['name']}@{v['number']}"
            problems.append(Problem(v["content_id"], "inconsistent", ref, detail))
    return problems


def _hash_stored(store: ObjectStore, blob: str) -> str | None:
    hasher = blake3()
    try:
        with store.open(blob) as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
    except (OSError, NotFoundError):
        return None
    return blob_id(hasher.hexdigest())


# -- gc --------------------------------------------------------------------------------------


@dataclass
class GcReport:
    """Blobs removed (or that would be, with `dry_run`), and what was kept."""

    dry_run: bool
    removed: list[tuple[str, int]] = field(default_factory=list)  # (blob, size)
    kept_young: int = 0
    reachable: int = 0
    temp_removed: int = 0

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.removed)

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed": len(self.removed),
            "bytes_freed": self.freed,
            "kept_young": self.kept_young,
            "reachable": self.reachable,
            "temp_removed": self.temp_removed,
            "blobs": [blob for blob, _ in self.removed],
        }


def gc(
    ws: Workspace,
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    forget_other_dbs: bool = False,
) -> GcReport:
    """Delete stored blobs nothing reaches, written more than `grace_s` seconds ago, and
    staging leftovers as old.

    Refused while a folder listing the DB refers to cannot be read (its files would look
    unreferenced), and while the store holds the mark of another metadata DB (its data would
    look unreferenced), unless `forget_other_dbs`: then that DB's blobs and mark go too.
    """
    refs, problems = references(ws)
    if problems:
        p = problems[0]
        raise MlcdError(
            f"gc refused: folder listing {p.blob} ({p.used_by}) is {p.kind}, so the blobs it "
            "lists cannot be told from garbage",
            hint="run `mlcd fsck` to see what is damaged; restore it before collecting",
        )
    store = ws.store
    unreferenced = [blob for blob in store.iter_blobs() if blob not in refs]
    marks = find_marks(store, unreferenced)
    others = {m.database_id: m for m in marks.values() if m.database_id != ws.db.id}
    if others and not forget_other_dbs:
        raise MlcdError(
            f"gc refused: store {store.url} is also used by {len(others)} other metadata "
            f"DB(s), whose blobs look unreferenced from here: "
            + "; ".join(m.describe() for m in others.values()),
            hint="give every workspace that shares the store one metadata DB (PostgreSQL); "
            "if those workspaces are gone for good, `mlcd gc --forget-other-dbs` removes their "
            "data too",
        )
    own = {blob for blob, m in marks.items() if m.database_id == ws.db.id}
    unreferenced = [blob for blob in unreferenced if blob not in own]  # where we write from
    cutoff = time.time() - grace_s
    report = GcReport(dry_run, reachable=len(refs))
    for blob in unreferenced:
        stat = _would_collect(store, blob, cutoff) if dry_run else store.collect(blob, cutoff)
        if stat is None:
            report.kept_young += 1
        else:
            report.removed.append((blob, stat.size))
    if not dry_run:  # a snapshot may stage for long before it commits: temp files get a day
        report.temp_removed = store.clean_temp(before=time.time() - max(grace_s, TEMP_GRACE_S))
    return report


def _would_collect(store: ObjectStore, blob: str, before: float) -> BlobStat | None:
    try:
        stat = store.stat(blob)
    except NotFoundError:  # removed meanwhile by another gc
        return None
    return stat if stat.modified < before else None
