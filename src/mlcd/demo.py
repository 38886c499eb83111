"""`mlcd demo`: a guided tour on generated example data, end to end, in a fresh workspace."""

from __future__ import annotations

from pathlib import Path

from mlcd.errors import ConfigError

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")


def write_day(root: Path, day: str, rows: int = 2_000, seed: int = 0) -> Path:
    """One day of synthetic transactions as a Hive partition `date=<day>/part-0.parquet`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([seed, int(day.replace("-", ""))])
    items = rng.integers(1, 10, rows)
    table = pa.table(
        {
            "customer_id": rng.integers(1, 500, rows),
            "items": items,
            "amount": np.round(items * rng.gamma(2.0, 12.0, rows), 2),
            "channel": rng.choice(["web", "store", "app"], rows),
        }
    )
    folder = root / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-0.parquet")
    return folder


def run_demo(path: Path, quiet: bool = False) -> None:
    """Create a workspace at `path`, snapshot data, append a day, diff, and read it back."""
    from rich.console import Console

    from mlcd.workspace import Workspace

    say = Console(highlight=False).print
    if (path / "mlcd.yaml").exists():
        raise ConfigError(
            f"{path} already holds a workspace", hint="give another folder: mlcd demo DIR"
        )
    ws = Workspace.init(path, project="demo")
    source = ws.root / "data" / "transactions"
    for day in DAYS[:2]:
        write_day(source, day)
    say(f"[bold]1.[/bold] workspace in {ws.root}, two days of transactions in {source}")

    first = ws.snapshot("transactions", source, message="first two days").version
    say(f"[bold]2.[/bold] mlcd data snapshot transactions -> {first.ref}: {first.rows:,} rows")

    again = ws.snapshot("transactions", source)
    say(f"[bold]3.[/bold] snapshot again, nothing changed -> new version: {again.created}")

    new_day = write_day(ws.root / "incoming", DAYS[2])
    second = ws.snapshot("transactions", new_day, append=True, message="one more day").version
    say(f"[bold]4.[/bold] --append {new_day.name} -> {second.ref}: {second.rows:,} rows")

    d = ws.diff(first.ref, second.ref)
    say(f"[bold]5.[/bold] diff {d.a} {d.b}: partitions added {d.partitions_added}")

    df = ws.load("transactions@latest", partitions=f"date = '{DAYS[2]}'").to_pandas()
    say(f"[bold]6.[/bold] load one partition with pandas: {len(df):,} rows")
    top = (
        ws.load(second.ref)
        .duckdb()
        .aggregate("channel, round(sum(amount), 2) AS revenue", "channel")
        .order("revenue DESC")
        .fetchall()
    )
    say(f"[bold]7.[/bold] revenue by channel with DuckDB: {top}")
    say(f"\nTry: cd {path} && mlcd data log transactions && mlcd data show {second.ref}")
