from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcd.errors import NotFoundError
from mlcd.workspace import Workspace
from tests.conftest import age, write_partitions
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL


def test_diff_reports_files_partitions_rows_and_schema(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    write_partitions(sales, ["2024-01-04"], seed=5)
    (sales / "date=2024-01-01" / "part-0.parquet").unlink()
    (sales / "date=2024-01-01").rmdir()
    changed = sales / "date=2024-01-02" / "part-0.parquet"
    pq.write_table(pa.table({"amount": [1.0], "items": [1], "channel": ["x"], "n": [1]}), changed)
    age(changed)
    ws.snapshot("sales", sales)
    d = ws.diff("sales@1", "sales@2")
    assert d.files_added == ["date=2024-01-04/part-0.parquet"]
    assert d.files_removed == ["date=2024-01-01/part-0.parquet"]
    assert d.files_changed == ["date=2024-01-02/part-0.parquet"]
    assert d.partitions_added == ["date=2024-01-04"]
    assert d.partitions_removed == ["date=2024-01-01"]
    assert (d.rows_a, d.rows_b) == (300, 201)
    assert d.columns_added == ["n"] and not d.columns_removed
    assert d.to_dict()["rows_delta"] == -99
    assert ws.diff("sales@2").to_dict() == d.to_dict()  # default: against the parent


def test_diff_of_first_version_needs_two_refs(ws: Workspace, sales: Path) -> None:
    ws.snapshot("sales", sales)
    with pytest.raises(NotFoundError, match="no parent"):
        ws.diff("sales@1")
    assert ws.diff("sales@1", "sales@1").empty
