"""The Python Parquet footer decoder: agrees with pyarrow, and gives up rather than guess."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.data.footer import MAX_FOOTER, read_footer


def varied_table(rows: int) -> pa.Table:
    return pa.table(
        {
            "i": pa.array(range(rows), pa.int64()),
            "s": [f"v{n % 7}" for n in range(rows)],
            "l": [[n, n + 1] if n % 3 else None for n in range(rows)],
            "st": pa.array([{"x": n, "y": n % 2 == 0} for n in range(rows)]),
            "ts": pa.array([dt.datetime(2024, 1, 1)] * rows, pa.timestamp("ms", tz="Europe/Paris")),
            "d": pa.array([f"k{n % 3}" for n in range(rows)]).dictionary_encode(),
            "b": [n % 2 == 0 if n % 5 else None for n in range(rows)],
            "f": pa.array([n / 3 for n in range(rows)], pa.float32()),
            "m": pa.array([{"k": n} for n in range(rows)], pa.map_(pa.string(), pa.int64())),
            "dec": pa.array([n for n in range(rows)], pa.decimal128(10, 2)),
        }
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"row_group_size": 7},
        {"store_schema": False},
        {"compression": "zstd"},
        {"write_statistics": False},
        {"version": "1.0"},
        {"data_page_version": "2.0"},
        {"write_page_index": True},
    ],
)
def test_rows_match_pyarrow(tmp_path: Path, options: dict[str, object]) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(varied_table(50), path, **options)
    footer = read_footer(path)
    assert footer is not None and footer.rows == pq.ParquetFile(path).metadata.num_rows == 50


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(0, 300), groups=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_rows_match_pyarrow_for_any_layout(
    tmp_path_factory: pytest.TempPathFactory, rows: int, groups: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    path = tmp_path_factory.mktemp("h") / "t.parquet"
    table = pa.table({"x": rng.random(rows), "y": rng.integers(-(2**40), 2**40, rows)})
    pq.write_table(table, path, row_group_size=groups)
    footer = read_footer(path)
    if pq.ParquetFile(path).metadata.serialized_size > MAX_FOOTER:
        assert footer is None  # left to pyarrow
    else:
        assert footer is not None and footer.rows == rows


def test_footprint_follows_the_schema_not_the_data(tmp_path: Path) -> None:
    paths = {}
    for name, table in {
        "a": pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]}),
        "b": pa.table({"x": [9] * 1000, "y": ["z"] * 1000}),  # same schema, other data
        "c": pa.table({"x": [1.0], "y": ["a"]}),  # x is a double
        "d": pa.table({"x": [1], "y": pa.array(["a"], pa.large_string())}),  # only Arrow knows
    }.items():
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(table, paths[name])
    prints = {name: read_footer(p).footprint for name, p in paths.items()}  # type: ignore[union-attr]
    assert prints["a"] == prints["b"]
    assert len({prints["a"], prints["c"], prints["d"]}) == 3


def test_other_writers(tmp_path: Path) -> None:
    duck = tmp_path / "duck.parquet"
    duckdb.sql(f"COPY (SELECT range AS a, 'x' AS b FROM range(1234)) TO '{duck}'")
    frame = tmp_path / "pandas.parquet"
    pd.DataFrame({"a": range(10), "b": list("abcdefghij")}).to_parquet(frame)
    assert read_footer(duck).rows == 1234  # type: ignore[union-attr]
    assert read_footer(frame).rows == 10  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"PAR1",
        b"PAR1garbagePAR1",
        b"PAR1" + b"\x00" * 20 + (8).to_bytes(4, "little") + b"PAR1",  # a footer of zeros
        b"PAR1" + b"\xff" * 20 + (16).to_bytes(4, "little") + b"PAR1",  # endless varints
        b"PAR1" + b"x" * 20 + (10**6).to_bytes(4, "little") + b"PAR1",  # longer than the file
        b"PAR1" + b"x" * 20 + (8).to_bytes(4, "little") + b"PARE",  # encrypted footer
        b"a,b\n1,2\n",
    ],
)
def test_malformed_footers_give_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    assert read_footer(path) is None


def test_truncated_file_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(varied_table(20), path)
    data = path.read_bytes()
    for cut in (1, 9, len(data) // 2):
        path.write_bytes(data[:-cut])
        assert read_footer(path) is None


def test_large_footers_are_left_to_pyarrow(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    table = pa.table({f"c{i}": np.arange(2000) for i in range(40)})
    pq.write_table(table, path, row_group_size=20)
    assert pq.ParquetFile(path).metadata.serialized_size > MAX_FOOTER
    assert read_footer(path) is None


def test_missing_file_gives_none(tmp_path: Path) -> None:
    assert read_footer(tmp_path / "nope.parquet") is None


def with_footer(footer: bytes) -> bytes:
    return b"PAR1" + b"\x00" * 8 + footer + len(footer).to_bytes(4, "little") + b"PAR1"


@pytest.mark.parametrize(
    "footer",
    [
        b"\x15\x02" + b"\x1c" * 5000 + b"\x00" * 5001,  # nested deeper than any real footer
        b"\x15" + b"\xff" * 6 + b"\x01" + b"\x00",  # an i32 varint longer than 5 bytes
        b"\x19\xfe" + b"\x00",  # a list of an unknown element type
    ],
    ids=["deep", "long-varint", "bad-list-type"],
)
def test_hostile_footers_give_none(tmp_path: Path, footer: bytes) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(with_footer(footer))
    assert read_footer(path) is None


def test_a_damaged_footer_is_never_taken_for_a_good_one(tmp_path: Path) -> None:
    """Whenever a footer with one byte changed still decodes to a known footprint, pyarrow
    reads the same rows from it: mlcd never accepts a footer that pyarrow would refuse."""
    good = tmp_path / "good.parquet"
    pq.write_table(varied_table(40), good, row_group_size=7)
    data = good.read_bytes()
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    known = read_footer(good)
    assert known is not None
    rng = np.random.default_rng(7)
    damaged = tmp_path / "damaged.parquet"
    accepted = 0
    for _ in range(400):
        mutated = bytearray(data)
        mutated[rng.integers(start, len(data) - 8)] = rng.integers(0, 256)
        damaged.write_bytes(bytes(mutated))
        footer = read_footer(damaged)
        if footer is None or footer.footprint != known.footprint:
            continue  # pyarrow reads it and reports what is wrong
        accepted += 1
        assert pq.ParquetFile(damaged).metadata.num_rows == footer.rows
    assert accepted > 50  # the test did exercise the fast path
