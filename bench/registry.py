"""Benchmark: the model registry with 10,000 versions of one model.

Measures what the issue sets targets for:

- resolving `name@alias` and loading that version's metadata through the Python API
  (`Workspace.model("m@production")`, warm process): median and p95 of 1,000 calls, < 5 ms;
- `mlcd models list` as a CLI process: median of 5, < 0.5 s;
- and, for reference, `mlcd models show m@production` as a CLI process and the interpreter's
  bare start-up (`python -c pass`), the floor under every CLI figure.

How the versions are made: a few are registered for real (a scikit-learn LogisticRegression
through `Workspace.register_model`, with an example and a dataset in its lineage); the rest are
copies of the last real one, inserted in one transaction through `ws.db.sql(write=True)` and
`mlcd.registry.catalog.insert_version` with distinct numbers (same artifact, their own metrics,
timestamps and lineage rows). Aliases are moved through `Workspace.set_alias`, so they have a
history.

    python bench/registry.py [--versions 10000] [--calls 1000] [--repeats 5] [--profile]

Results go to stdout and to the `## Registry (bench/registry.py)` section of bench/RESULTS.md
(other sections are kept). A missed target is profiled with cProfile and the top of the
profile is written with the figures; `--profile` profiles in any case.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import write_section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Registry (bench/registry.py)"
MODEL = "m"
REAL_VERSIONS = 3

# targets from the issue
API_MS = 5.0
LIST_S = 0.5


def build(root: Path, versions: int) -> dict[str, float]:
    """A workspace with `versions` versions of MODEL and a few aliases; returns timings."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mlcd.registry import catalog
    from mlcd.workspace import Workspace

    if root.exists():
        shutil.rmtree(root)
    timings: dict[str, float] = {}
    with Workspace.init(root) as ws:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"amount": rng.random(500), "items": rng.integers(0, 10, 500)})
        frame["churned"] = (frame["amount"] * 10 > frame["items"]).astype(int)
        ws.snapshot("sales", frame)
        x = frame[["amount", "items"]]
        started = time.perf_counter()
        for i in range(REAL_VERSIONS):
            model = LogisticRegression(C=0.5 + i).fit(x, frame["churned"])
            ws.register_model(
                MODEL,
                model,
                example=x.head(10),
                metrics={"auc": 0.8 + i / 100},
                datasets={"sales@1": "train"},
            )
        timings["real"] = time.perf_counter() - started
        base = ws.model(f"{MODEL}@{REAL_VERSIONS}")
        started = time.perf_counter()
        with ws.db.sql(write=True) as conn:
            mid = catalog.model_id(conn, MODEL)
            assert mid is not None
            for n in range(REAL_VERSIONS + 1, versions + 1):
                copy = replace(
                    base,
                    number=n,
                    metrics={"auc": 0.5 + (n % 500) / 1000},
                    created_at=base.created_at + timedelta(seconds=n),
                    created_by="bench",
                )
                catalog.insert_version(conn, mid, copy)
        timings["bulk"] = time.perf_counter() - started
        for alias, version in (
            ("staging", versions - 10),
            ("production", versions - 20),
            ("staging", versions),
            ("canary", versions - 1),
            ("production", versions - 10),
        ):
            ws.set_alias(MODEL, alias, version, reason="bench")
        assert len(ws.model_versions(MODEL)) == versions
    return timings


def api_calls(root: Path, calls: int) -> dict[str, float | list[float]]:
    """`ws.model("m@production")` in a warm process: the first call, then `calls` more."""
    from mlcd.workspace import Workspace

    with Workspace(root) as ws:
        started = time.perf_counter()
        first = ws.model(f"{MODEL}@production")
        first_ms = (time.perf_counter() - started) * 1000
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            v = ws.model(f"{MODEL}@production")
            samples.append((time.perf_counter() - started) * 1000)
        assert v == first and v.aliases == ("production",)
        # what `mlcd models list` asks the DB: an aggregate over every version
        listing = []
        for _ in range(100):
            started = time.perf_counter()
            (summary,) = ws.models()
            listing.append((time.perf_counter() - started) * 1000)
        assert summary.versions == len(ws.model_versions(MODEL))
        # a fresh Workspace per call: what a short script or a request handler without a
        # cached Workspace pays (opening the DB connection, reading mlcd.yaml)
        fresh = []
        for _ in range(min(calls, 200)):
            started = time.perf_counter()
            with Workspace(root) as other:
                other.model(f"{MODEL}@production")
            fresh.append((time.perf_counter() - started) * 1000)
    return {"first": first_ms, "samples": samples, "fresh": fresh, "listing": listing}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def mlcd_command() -> list[str]:
    script = Path(sys.executable).parent / "mlcd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlcd"]


def cli_runs(root: Path, args: list[str], repeats: int) -> list[float]:
    """Wall time of `args` as a process in `root`, after one unmeasured warm-up run."""
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(args, cwd=root, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
        if i:
            times.append(elapsed)
    return times


def profile_api(root: Path, calls: int) -> str:
    from mlcd.workspace import Workspace

    with Workspace(root) as ws:
        ws.model(f"{MODEL}@production")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            ws.model(f"{MODEL}@production")
        profiler.disable()
    return _top(profiler, f"{calls} warm calls of ws.model('{MODEL}@production')")


def profile_cli(root: Path, args: list[str]) -> str:
    """cProfile of one CLI process (`python -m cProfile`), plus `-X importtime`'s heaviest."""
    out = root.parent / "cli.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "mlcd", *args]
    subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    stats = pstats.Stats(str(out))
    text = _stats_text(stats, f"`mlcd {' '.join(args)}` in one process")
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlcd", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in imports.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = sorted((r for r in rows if not r[1].startswith("  ")), reverse=True)[:12]
    lines = [f"    {us / 1000:7.1f} ms  {name.strip()}" for us, name in top]
    return text + "\n  top-level imports (-X importtime, cumulative):\n" + "\n".join(lines)


def _top(profiler: cProfile.Profile, title: str) -> str:
    return _stats_text(pstats.Stats(profiler), title)


def _stats_text(stats: pstats.Stats, title: str) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(18)
    body = [line for line in buffer.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(body) if "ncalls" in line), 0)
    return f"  {title}:\n" + "\n".join("    " + line for line in body[start:])


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    from mlcd._version import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "mlcd": f"{__version__} (commit {commit})",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "registry")
    parser.add_argument("--profile", action="store_true", help="profile even if targets are met")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file to update")
    opts = parser.parse_args()

    host = machine()
    root = opts.work / "ws"
    print(f"building {opts.versions:,} versions in {root} ...", flush=True)
    built = build(root, opts.versions)
    api = api_calls(root, opts.calls)
    samples = api["samples"]
    fresh = api["fresh"]
    listing = api["listing"]
    assert isinstance(samples, list) and isinstance(fresh, list) and isinstance(listing, list)
    median_ms, p95_ms = statistics.median(samples), percentile(samples, 0.95)
    fresh_ms = statistics.median(fresh)
    mlcd = mlcd_command()
    floor = cli_runs(root, [sys.executable, "-c", "pass"], opts.repeats)
    listed = cli_runs(root, [*mlcd, "models", "list"], opts.repeats)
    shown = cli_runs(root, [*mlcd, "models", "show", f"{MODEL}@production"], opts.repeats)
    version_s = cli_runs(root, [*mlcd, "--version"], opts.repeats)
    list_s = statistics.median(listed)
    api_ok = median_ms < API_MS and p95_ms < API_MS
    list_ok = list_s < LIST_S

    profiles = []
    if opts.profile or not api_ok:
        profiles.append(profile_api(root, opts.calls))
    if opts.profile or not list_ok:
        profiles.append(profile_cli(root, ["models", "list"]))

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.3f}" for v in values)

    how = textwrap.fill(
        f"{opts.versions:,} versions of one model `{MODEL}`, three aliases with a history of "
        f"five moves. How they were made: {REAL_VERSIONS} versions registered for real "
        "(`Workspace.register_model` of a scikit-learn LogisticRegression, with an example and "
        f"`sales@1` as training data: {built['real']:.2f} s), then "
        f"{opts.versions - REAL_VERSIONS:,} copies of the last one inserted in one transaction "
        "through `ws.db.sql(write=True)` and `mlcd.registry.catalog.insert_version` with "
        "distinct numbers, metrics and timestamps (same artifact; each with its dataset lineage "
        f"row: {built['bulk']:.2f} s). Aliases moved with `Workspace.set_alias`. SQLite "
        "metadata DB (the default), local store.",
        width=92,
    )
    busy = ""
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        busy = (
            "\n"
            + textwrap.fill(
                "The machine was shared and busy during the run (1-minute load above the core "
                "count): the figures are upper bounds.",
                width=92,
            )
            + "\n"
        )
    section = f"""{SECTION}

{how}
{busy}
```
python bench/registry.py --versions {opts.versions} --calls {opts.calls} --repeats {opts.repeats}
```

| machine | |
| --- | --- |
| date | {host["date"]} |
| cores (nproc) | {host["nproc"]} |
| CPU | {host["cpu"]} |
| Python | {host["python"]} |
| mlcd | {host["mlcd"]} |
| load average at the end (1, 5, 15 min) | {host["load"]} |

| what | median | p95 / runs |
| --- | ---: | --- |
| `ws.model("{MODEL}@production")`, warm Workspace, {opts.calls:,} calls | {median_ms:.3f} ms \
| p95 {p95_ms:.3f} ms, first call {api["first"]:.2f} ms |
| same, a new `Workspace` per call ({len(fresh)} calls) | {fresh_ms:.3f} ms \
| p95 {percentile(fresh, 0.95):.3f} ms |
| `ws.models()` (what `models list` reads), 100 calls | {statistics.median(listing):.3f} ms \
| p95 {percentile(listing, 0.95):.3f} ms |
| `mlcd models list` (process) | {list_s:.3f} s | {runs(listed)} |
| `mlcd models show {MODEL}@production` (process) | {statistics.median(shown):.3f} s \
| {runs(shown)} |
| `mlcd --version` (process, CLI start-up) | {statistics.median(version_s):.3f} s \
| {runs(version_s)} |
| `python -c pass` (interpreter start-up) | {statistics.median(floor):.3f} s | {runs(floor)} |

CLI figures are wall time from `subprocess.run` to exit, median of {opts.repeats} after one
unmeasured warm-up run, using `{" ".join(Path(c).name for c in mlcd)}`.

| target | figure | verdict |
| --- | --- | --- |
| resolve `name@alias` + load metadata (Python API) < {API_MS:g} ms | median {median_ms:.3f} ms, \
p95 {p95_ms:.3f} ms | {verdict(api_ok)} |
| `mlcd models list` < {LIST_S:g} s | {list_s:.3f} s | {verdict(list_ok)} |
"""
    if profiles:
        section += "\nProfiles (cProfile, cumulative time):\n\n```\n"
        section += "\n\n".join(profiles) + "\n```\n"
    print(section)
    write_section(opts.results, SECTION, section)


if __name__ == "__main__":
    main()
