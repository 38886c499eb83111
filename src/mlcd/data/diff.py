"""What changed between two versions: files, partitions and their keys, rows and schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlcd.data.manifest import DatasetVersion


@dataclass(frozen=True)
class DatasetDiff:
    a: str
    b: str
    files_added: list[str]
    files_removed: list[str]
    files_changed: list[str]
    partitions_added: list[str]
    partitions_removed: list[str]
    rows_a: int
    rows_b: int
    columns_added: list[str]
    columns_removed: list[str]
    columns_retyped: list[str]  # "name: old -> new"
    partitioning_changed: list[str]  # "+key: type", "-key: type", "key: old -> new"

    @property
    def empty(self) -> bool:
        return not (self.files_added or self.files_removed or self.files_changed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_delta": self.rows_b - self.rows_a}


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
    """Compare two versions that were loaded with their files."""
    fa = {f.path: f.blob for f in a.files}
    fb = {f.path: f.blob for f in b.files}
    pa_ = {_partition_name(f.partition) for f in a.files if f.partition}
    pb = {_partition_name(f.partition) for f in b.files if f.partition}
    ta = {f.name: f.type for f in a.schema.fields}
    tb = {f.name: f.type for f in b.schema.fields}
    return DatasetDiff(
        a=a.ref,
        b=b.ref,
        files_added=sorted(fb.keys() - fa.keys()),
        files_removed=sorted(fa.keys() - fb.keys()),
        files_changed=sorted(p for p in fa.keys() & fb.keys() if fa[p] != fb[p]),
        partitions_added=sorted(pb - pa_),
        partitions_removed=sorted(pa_ - pb),
        rows_a=a.rows,
        rows_b=b.rows,
        columns_added=[c for c in tb if c not in ta],
        columns_removed=[c for c in ta if c not in tb],
        columns_retyped=[f"{c}: {ta[c]} -> {tb[c]}" for c in ta if c in tb and ta[c] != tb[c]],
        partitioning_changed=_partitioning_changes(a.partitioning, b.partitioning),
    )


def _partitioning_changes(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Partition keys added, removed or retyped: a key's type comes from its folder values, so
    a new value (`date=oops`) can turn a date column into strings for every reader."""
    return (
        [f"+{k}: {b[k]}" for k in b if k not in a]
        + [f"-{k}: {a[k]}" for k in a if k not in b]
        + [f"{k}: {a[k]} -> {b[k]}" for k in a if k in b and a[k] != b[k]]
    )


def _partition_name(partition: dict[str, str]) -> str:
    return "/".join(f"{k}={v}" for k, v in partition.items())
