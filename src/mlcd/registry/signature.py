"""Signatures: the input a model expects and the output it gives, inferred from an example."""

from __future__ import annotations

import io
from typing import Any

from mlcd.errors import ArtifactError

EXAMPLE_ROWS = 5


def describe(value: Any) -> dict[str, Any]:
    """The shape of a value: DataFrame columns and dtypes, or array/tensor shape and dtype."""
    import numpy as np

    if hasattr(value, "dtypes") and hasattr(value, "columns"):  # a pandas DataFrame
        return {
            "type": "dataframe",
            "columns": [{"name": str(c), "dtype": str(t)} for c, t in value.dtypes.items()],
        }
    if type(value).__module__.startswith("torch"):
        return {
            "type": "tensor",
            "shape": [None, *list(value.shape)[1:]],
            "dtype": str(value.dtype),
        }
    array = np.asarray(value)
    return {"type": "ndarray", "shape": [None, *array.shape[1:]], "dtype": str(array.dtype)}


def example_bytes(example: Any) -> bytes:
    """The first rows of an example, in a format that loads without unpickling."""
    import numpy as np

    if hasattr(example, "columns"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        table = pa.Table.from_pandas(example.head(EXAMPLE_ROWS), preserve_index=False)
        pq.write_table(table.replace_schema_metadata(None), buf)
        return b"PARQ" + buf.getvalue()
    if type(example).__module__.startswith("torch"):
        example = example.detach().cpu().numpy()
    buf = io.BytesIO()
    np.save(buf, np.asarray(example)[:EXAMPLE_ROWS], allow_pickle=False)
    return b"NUMP" + buf.getvalue()


def load_example(data: bytes) -> Any:
    """The stored example back as a DataFrame or an array."""
    kind, body = data[:4], data[4:]
    if kind == b"PARQ":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(body)).to_pandas()
    if kind == b"NUMP":
        import numpy as np

        return np.load(io.BytesIO(body), allow_pickle=False)
    raise ArtifactError("the stored example is in an unknown format")


def read_example_file(path: str) -> Any:
    """An example input from a file: Parquet, CSV or .npy."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"example file {path} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pandas as pd

        return pd.read_parquet(p)
    if suffix == ".csv":
        import pandas as pd

        return pd.read_csv(p)
    if suffix == ".npy":
        import numpy as np

        return np.load(p, allow_pickle=False)
    raise ArtifactError(
        f"example file {path} is not .parquet, .csv or .npy",
        hint="save a few input rows as Parquet",
    )
