"""Appending files on top of a version: the refusals that need no schema, made before a blob is
stored (a refused append stores nothing), and the file list of the new version.

The files' schemas are checked beside these, in `snapshot.py`, against the same base version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcd.data.manifest import DatasetVersion, FileEntry
from mlcd.data.partitions import partition_types
from mlcd.data.sources import SourceFile
from mlcd.errors import NotFoundError, SchemaConflictError, SourceError
from mlcd.names import Ref

if TYPE_CHECKING:
    from mlcd.meta import Database
    from mlcd.meta.db import SqlConnection


def base_version(db: Database, name: str, fmt: str) -> DatasetVersion | None:
    """The latest version of `name`, with its files, once it is known to take files of `fmt`."""
    from mlcd.data import catalog

    with db.sql() as conn:
        latest = catalog.latest(conn, dataset_id(conn, name, lock=False))
        base = with_files(conn, latest) if latest is not None else None
    if base is not None and base.format != fmt:
        raise SourceError(
            f"cannot append {fmt} files to {base.ref}, which holds {base.format} files"
        )
    return base


def with_files(conn: SqlConnection, version: DatasetVersion) -> DatasetVersion:
    from mlcd.data import catalog

    return catalog.resolve(conn, Ref(version.name, version.number), with_files=True)


def dataset_id(conn: SqlConnection, name: str, lock: bool = True) -> int:
    """The id of dataset `name`, which an append needs to exist; locked (on PostgreSQL) for
    the transaction that writes the new version."""
    from mlcd.data import catalog

    ds_id = catalog.dataset_id(conn, name, lock=lock)
    if ds_id is None:
        raise NotFoundError(
            f"cannot append to dataset {name!r}: it does not exist",
            hint=f"create it first with `mlcd data snapshot {name} SOURCE`",
        )
    return ds_id


def check_files(base: DatasetVersion | None, files: list[SourceFile]) -> None:
    """Refuse paths `base` already has, other partition keys, and partition values that do not
    fit the type `base` gives their key (a date key stays a date: no silent retyping)."""
    if base is None:
        return
    have = {f.path for f in base.files}
    clash = [f.path for f in files if f.path in have]
    if clash:
        raise SourceError(
            f"cannot append: {base.ref} already has {clash[0]}"
            + (f" and {len(clash) - 1} more" if len(clash) > 1 else ""),
            hint="append new partitions only; snapshot the whole folder to replace files",
        )
    keys = list(base.partitioning)
    if files and list(files[0].partition) != keys:
        raise SourceError(
            f"cannot append files partitioned by {list(files[0].partition) or 'nothing'} "
            f"to {base.ref}, partitioned by {keys or 'nothing'}",
            hint="append a folder named like the existing partitions, e.g. key=value/",
        )
    _check_key_types(base, files)


def _check_key_types(base: DatasetVersion, files: list[SourceFile]) -> None:
    # typed over the base's values and the new ones together, as a full snapshot would type
    # them: `1` beside `1.0`, or 2**60 in a float64 key, would turn the key into a string
    fixed = {k: t for k, t in base.partitioning.items() if t != "string"}  # holds any value
    if _retyped(fixed, [*(f.partition for f in base.files), *(f.partition for f in files)]):
        seen = [f.partition for f in base.files]
        for f in files:  # the first folder that retypes a key (a refusal only)
            seen.append(f.partition)
            for key, now in _retyped(fixed, seen).items():
                folder = f.path.rsplit("/", 1)[0]
                want = fixed[key]
                raise SchemaConflictError(
                    f"cannot append {folder} to {base.ref}: partition key {key!r} is {want} "
                    f"there, and {f.partition[key]!r} is not a {want} value distinct from those "
                    f"it has (together they type as {now})",
                    hint=f"name the folder {key}=<a {want} value>, or snapshot the whole source "
                    "without --append to retype the key",
                )


def _retyped(fixed: dict[str, str], partitions: list[dict[str, str]]) -> dict[str, str]:
    """The keys of `fixed` whose values in `partitions` type otherwise, with their new type."""
    typed = partition_types(partitions)
    return {k: typed[k] for k, want in fixed.items() if typed.get(k, want) != want}


def on_top(base: DatasetVersion | None, entries: list[FileEntry]) -> list[FileEntry]:
    """The files of the new version: the base's and the appended, by path."""
    if base is None:
        return entries
    return sorted([*base.files, *entries], key=lambda f: f.path)
