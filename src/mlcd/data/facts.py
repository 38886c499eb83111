"""What each new file of a snapshot holds (rows, schema), read before anything is stored.

Parquet footers are decoded in Python first (`footer.py`); a footprint the stat index has seen
names its schema without importing pyarrow. Each footprint new to the index is read once with
pyarrow, and the files sharing it get that schema. Other files, CSV and JSON lines are read by
pyarrow, which also reports a corrupt file (`inference.py` types CSV and JSON lines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from mlcd.data.footer import Footer, read_footer
from mlcd.data.sources import SourceFile
from mlcd.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa

    from mlcd.data.statcache import StatCache

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FileFacts:
    """Rows and schema id of a file; `schema` is set when pyarrow read it (maybe new to the
    index), `footprint` when its Parquet footer could be decoded (to teach the index)."""

    rows: int
    schema_id: str
    schema: pa.Schema | None = None
    footprint: str | None = None


def read_all(
    files: list[SourceFile],
    fmt: str,
    cache: StatCache,
    workers: int,
    footers: list[Footer | None] | None = None,
    label: str | None = None,
) -> dict[str, FileFacts]:
    """Facts of every file by absolute path; a corrupt file refuses the snapshot (SourceError).

    `footers` are the files' `read_footer` results when the caller has them already; `label`
    names the source in errors instead of its files (a DataFrame's temporary Parquet file).
    """
    if not files:
        return {}
    with ThreadPoolExecutor(workers) as pool:
        if footers is None:
            footers = (
                _map(pool, lambda f: read_footer(f.abspath), files)
                if fmt == "parquet"
                else [None] * len(files)
            )
        learnt = cache.footprints({ft.footprint for ft in footers if ft is not None})
        # pyarrow reads each file without a usable footer (keyed by path), and one file per
        # footprint new to the index (keyed by footprint)
        slow: dict[str, SourceFile] = {}
        for f, ft in zip(files, footers, strict=True):
            if ft is None:
                slow[f.abspath] = f
            elif ft.footprint not in learnt:
                slow.setdefault(ft.footprint, f)
        facts = _map(
            pool, lambda f: read_facts(f.abspath, fmt, label or f"file {f.path}"), slow.values()
        )
    read = dict(zip(slow, facts, strict=True))
    return {f.abspath: _facts(f, ft, learnt, read) for f, ft in zip(files, footers, strict=True)}


def preload(files: list[SourceFile], fmt: str, cache: StatCache) -> None:
    """Import pyarrow now if reading `files` will need it: the import then overlaps the copies.

    Parquet files need it unless the first one's footprint is already known (the next ones
    are most likely alike); CSV and JSON lines always do.
    """
    if not files:
        return
    if fmt == "parquet":
        footer = read_footer(files[0].abspath)
        if footer is not None and cache.footprints({footer.footprint}):
            return
    import importlib

    importlib.import_module(f"pyarrow.{fmt}")
    importlib.import_module("mlcd.data.schema")
    if fmt != "parquet":
        importlib.import_module("mlcd.data.inference")


def _facts(
    f: SourceFile, ft: Footer | None, learnt: dict[str, str], read: dict[str, FileFacts]
) -> FileFacts:
    if ft is None:
        return read[f.abspath]
    if ft.footprint in learnt:
        return FileFacts(ft.rows, learnt[ft.footprint], footprint=ft.footprint)
    first = read[ft.footprint]
    return FileFacts(ft.rows, first.schema_id, first.schema, ft.footprint)


def _map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if len(items) == 1:  # one new partition: no thread hand-off
        return [fn(items[0])]
    return list(pool.map(fn, items))


def read_facts(path: str, fmt: str, display: str) -> FileFacts:
    """Rows and schema of a data file, read by pyarrow; a corrupt file is a SourceError naming it
    (`display`, e.g. "file date=2024-01-01/part-0.parquet").

    Parquet: only the footer is read. CSV and JSON lines are parsed in a stream. A file with two
    columns of one name is refused: readers address columns by name, and would drop one.
    """
    import pyarrow as pa

    from mlcd.data.schema import check_unique, schema_id

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            rows, schema = meta.metadata.num_rows, meta.schema_arrow
        else:
            from mlcd.data.inference import csv_facts, json_facts

            rows, schema = csv_facts(path, display) if fmt == "csv" else json_facts(path, display)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(
            f"{display} is not a readable {fmt} file: {exc}",
            hint="fix or remove the file, then snapshot again",
        ) from exc
    check_unique(schema, display)
    return FileFacts(rows, schema_id(schema), schema)
