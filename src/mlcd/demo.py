"""`mlcd demo`: a guided tour on generated example data, end to end, in a fresh workspace.

Data (snapshot, no-change, append, diff, read back), validation (declared data checks), a
pipeline that trains and registers a scikit-learn model (then comes from the cache), an alias,
and the model's lineage down to the dataset files.
"""

from __future__ import annotations

from pathlib import Path

from mlcd.errors import ConfigError, MlcdError

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")

CONFIG = """\
# The mlcd demo workspace (see `mlcd demo`). Reference: the README's sections.
project: demo
seed: 42
store: .mlcd/objects
metadata: sqlite:///.mlcd/mlcd.db

datasets:
  transactions:
    source: data/transactions/
    checks:
      - {column: amount, min: 0, max_null_fraction: 0}
      - {column: items, min: 1, max: 9, dtype: int64}
      - {column: channel, in: [web, store, app], min_distinct: 3}
      - {correlation: [amount, items], min: 0.5}
      - {rows: [1000, null]}

steps:
  train:
    run: train:main                  # train.py, function main, seeded by mlcd
    inputs: [datasets.transactions@latest]
    params: [train]
    outputs: {model: model/, example: example.parquet, validation: validation.parquet}
    metrics: metrics.json
    model:
      name: big-basket
      output: model
      example: example.parquet
      validation: validation.parquet
      target: big
      datasets: {transactions: train}
      checks: [better_than_baseline, class_balance, deterministic]
"""

PARAMS = """\
train:
  C: 1.0
  threshold: 100   # a basket is big above this amount
"""

TRAIN = '''\
"""Train a classifier of big baskets on the pinned transactions snapshot."""

import json
from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression

import mlcd


def main() -> None:
    params = mlcd.params()["train"]
    frame = mlcd.inputs()["transactions"].to_pandas()
    x = pd.get_dummies(frame[["items", "channel"]], columns=["channel"], dtype=float)
    y = (frame["amount"] > params["threshold"]).astype(int)
    held_out = frame["customer_id"] % 5 == 0
    model = LogisticRegression(C=params["C"], max_iter=1000).fit(x[~held_out], y[~held_out])
    Path("model").mkdir(exist_ok=True)
    sio.dump(model, "model/model.skops")
    x[~held_out].head(20).to_parquet("example.parquet")
    x[held_out].assign(big=y[held_out]).to_parquet("validation.parquet")
    accuracy = float(model.score(x[held_out], y[held_out]))
    Path("metrics.json").write_text(json.dumps({"accuracy": accuracy}))
'''


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
    """Create a workspace at `path` and walk through data, checks, a pipeline and the registry."""
    from rich.console import Console

    from mlcd.workspace import Workspace

    console = Console(highlight=False, quiet=quiet, soft_wrap=True)
    say = console.print
    if (path / "mlcd.yaml").exists():
        raise ConfigError(
            f"{path} already holds a workspace", hint="give another folder: mlcd demo DIR"
        )
    Workspace.init(path, project="demo").close()
    (path / "mlcd.yaml").write_text(CONFIG)
    (path / "params.yaml").write_text(PARAMS)
    (path / "train.py").write_text(TRAIN)
    ws = Workspace(path)
    source = ws.root / "data" / "transactions"
    for day in DAYS[:2]:
        write_day(source, day)
    say(f"[bold]1.[/bold] workspace in {ws.root}, two days of transactions in {source}")

    first = ws.snapshot("transactions", message="first two days").version
    say(f"[bold]2.[/bold] mlcd data snapshot transactions -> {first.ref}: {first.rows:,} rows")

    again = ws.snapshot("transactions")
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

    checks = ws.check_data(second.ref)
    passed = sum(r.passed for r in checks)
    say(f"[bold]8.[/bold] mlcd check data {second.ref}: {passed} of {len(checks)} checks passed")

    say("[bold]9.[/bold] mlcd run: train.py trains and registers a model (a few seconds) ...")
    run = ws.run()
    if run.failed:
        step = run.failed[0]
        raise MlcdError(
            f"demo step {step.step} failed: {step.error}",
            hint=f"mlcd logs {run.run_id} {step.step} --stderr",
        )
    (train,) = run.steps
    model = train.model or ""
    say(
        f"   run {run.run_id}: step train {train.status}, accuracy "
        f"{train.metrics['accuracy']:.3f}, registered {model}"
    )
    rerun = ws.run()
    say(f"[bold]10.[/bold] mlcd run again: step train {rerun.steps[0].status} (same key)")

    ws.set_alias("big-basket", "staging", model.split("@")[1], reason="demo")
    recorded = ws.check_model(model)
    ok = sum(r.passed for r in recorded)
    say(
        f"[bold]11.[/bold] big-basket@staging -> {model}; "
        f"model checks: {ok} of {len(recorded)} passed"
    )
    tree = ws.lineage("big-basket@staging")
    (used,) = tree["datasets"]
    say(
        f"[bold]12.[/bold] lineage: {tree['model']} <- run {tree['run']['id']} <- "
        f"{used['dataset']} ({used['rows']:,} rows, {len(used['files'])} files)"
    )
    ws.close()
    say(
        f"\nTry: cd {path} && mlcd data log transactions && mlcd runs show latest"
        " && mlcd models lineage big-basket@staging"
    )
