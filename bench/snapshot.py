"""Benchmark `mlcd data snapshot` against `dvc add` and `cp -r` on ~2 GB of Parquet.

    python bench/snapshot.py [--size-gb 2] [--files 1000] [--work bench/.work] [--repeat 3]

Run it with the project's Python (the venv that has mlcd installed). It:

1. creates `bench/.venv-dvc` (if missing) and pip-installs `dvc` there: dvc is never a
   dependency of mlcd, and runs from its own venv so the two never share packages;
2. generates ~`--files` Hive partitions `sales/date=YYYY-MM-DD/part-0.parquet` of random
   (incompressible) numbers totalling ~`--size-gb` GB, once (a marker beside the folder says
   what was generated), and backdates every file's mtime by an hour so no file is "racily
   clean" (mtime within 2 s of being indexed) and re-hashed on the next snapshot;
3. runs each tool as a subprocess of its CLI and reads the child's rusage from `os.wait4`:
   wall time, CPU (user + sys) and peak RSS. Before every first snapshot the source is read
   once (warm page cache for all three tools) and `sync` flushes the previous run's writes;
4. scenarios, each repeated `--repeat` times with tools interleaved, median reported:
   first snapshot into an empty store (cp, mlcd, dvc), re-snapshot with nothing changed
   (mlcd, dvc), re-snapshot after one new ~2 MB partition (mlcd, dvc), plus mlcd's no-change
   re-snapshot through the Python API in a warm process (no interpreter start-up);
5. prints a table and writes the `## Snapshot (bench/snapshot.py)` section of
   `bench/RESULTS.md` (other sections of that file are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import quiet, rmtree, write_section

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".venv-dvc"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Snapshot (bench/snapshot.py)"
DATA_FORMAT = 1  # bump when the generated data changes, so old folders are regenerated
DATASET = "sales"
FIRST_DAY = dt.date(2020, 1, 1)
BACKDATE_S = 3600  # far outside mlcd's 2 s racy window
ROW_BYTES = 32  # four 8-byte columns

# targets from the issue
FIRST_VS_DVC = 3.0  # first snapshot at least 3x faster than `dvc add`
FIRST_VS_CP = 1.5  # ... and within 1.5x of `cp -r`
RESNAP_S = 0.3  # no-change and one-new-partition re-snapshots
RSS_MB = 300


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    wall: float  # seconds
    cpu: float  # user + sys seconds of the child (and any children it waited for)
    rss_mb: float  # peak resident set size
    output: str
    others: float  # CPU seconds the rest of the machine used meanwhile (kernel threads, others)


@dataclass
class Tools:
    mlcd: list[str]
    dvc: list[str]
    cp: list[str]


# -- measuring ------------------------------------------------------------------------------


def wait_quiet() -> None:
    harness.wait_quiet(limit=5.0, window=0.5, cores=0.2)


def measure(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run `cmd` to completion: wall clock from fork to reap, CPU and peak RSS from wait4."""
    os.sync()  # earlier runs' dirty pages are flushed now, not during this measurement
    wait_quiet()
    with tempfile.TemporaryFile() as out:
        wall, cpu, rss_mb, code, others = harness.launch(cmd, cwd, env, out, subprocess.STDOUT)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"FAILED ({code}): {' '.join(cmd)} in {cwd}\n{text}")
    return Run(wall, cpu, rss_mb, text, others)


def warm(folder: Path) -> int:
    """Read every file once so the page cache holds the source for all tools alike."""
    total = 0
    buf = bytearray(1 << 20)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    total += n
    return total


# -- setup ----------------------------------------------------------------------------------


def find_tools() -> Tools:
    mlcd = Path(sys.executable).parent / "mlcd"
    if not mlcd.exists():
        sys.exit(f"no mlcd beside {sys.executable}: run this with the project's venv Python")
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        print(f"creating {DVC_VENV} and installing dvc (once) ...", flush=True)
        quiet([sys.executable, "-m", "venv", str(DVC_VENV)])
        quiet([str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "dvc"])
    cp = shutil.which("cp")
    if cp is None:
        sys.exit("no cp on PATH")
    compile_bytecode()
    return Tools([str(mlcd)], [str(dvc)], [cp])


def compile_bytecode() -> None:
    """Write mlcd's .pyc files, as `pip install` does (and did for dvc in its venv).

    An editable install compiles on first import instead, unless PYTHONDONTWRITEBYTECODE is
    set (as on these machines): then every run would compile mlcd from source, ~30 ms.
    """
    import mlcd

    quiet([sys.executable, "-m", "compileall", "-q", str(Path(mlcd.__file__).parent)])


def dvc_env(repo: Path) -> dict[str, str]:
    # no telemetry daemon, and dvc's hash/link state lives inside .dvc/ so deleting .dvc/
    # really starts from nothing (by default it is kept in /var/tmp/dvc across repos)
    env = dict(os.environ)
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_SITE_CACHE_DIR"] = str(repo / ".dvc" / "site-cache")
    return env


def partition_dir(src: Path, day: int) -> Path:
    return src / f"date={FIRST_DAY + dt.timedelta(days=day)}"


def write_partition(folder: Path, day: int, rows: int) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(day)
    table = pa.table(
        {
            "order_id": rng.integers(0, 2**62, rows, dtype=np.int64),
            "customer": rng.integers(0, 2**62, rows, dtype=np.int64),
            "amount": rng.standard_normal(rows) * 100,
            "score": rng.random(rows),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    pq.write_table(table, path, compression="snappy", use_dictionary=False)
    return path.stat().st_size


def backdate(paths: Sequence[Path]) -> None:
    then = time.time() - BACKDATE_S
    for p in paths:
        os.utime(p, (then, then))


@dataclass(frozen=True)
class Data:
    src: Path
    files: int
    rows_per_file: int
    nbytes: int


def prepare_data(work: Path, size_gb: float, files: int) -> Data:
    """The source folder `work/src/sales`, generated once and reused."""
    src = work / "src" / DATASET
    marker = work / "src" / f"{DATASET}.generated.json"
    rows = max(1, int(size_gb * 1e9 / files / ROW_BYTES))
    want = {"format": DATA_FORMAT, "files": files, "rows_per_file": rows}
    expected = {partition_dir(src, d).name for d in range(files)}
    if marker.exists() and json.loads(marker.read_text())["params"] == want:
        for extra in src.iterdir():  # new partitions left by an interrupted run
            if extra.name not in expected:
                rmtree(extra)
        nbytes = json.loads(marker.read_text())["bytes"]
        print(f"reusing {src} ({files} files, {nbytes / 1e9:.2f} GB)", flush=True)
    else:
        marker.unlink(missing_ok=True)
        rmtree(src)
        print(f"generating {files} partitions, {size_gb} GB into {src} ...", flush=True)
        start = time.perf_counter()
        nbytes = sum(write_partition(partition_dir(src, d), d, rows) for d in range(files))
        marker.write_text(json.dumps({"params": want, "bytes": nbytes}))
        print(f"  {nbytes / 1e9:.2f} GB in {time.perf_counter() - start:.1f} s", flush=True)
    backdate(sorted(src.rglob("*.parquet")))
    return Data(src, files, rows, nbytes)


def new_partition(src: Path, day: int, rows: int) -> Path:
    """An extra partition after the generated ones (same size), backdated like the rest."""
    folder = partition_dir(src, day)
    write_partition(folder, day, rows)
    backdate([folder / "part-0.parquet"])
    return folder


# -- the scenarios --------------------------------------------------------------------------


def expect(run: Run, pattern: str, what: str) -> Run:
    if not re.search(pattern, run.output):
        sys.exit(f"{what}: expected /{pattern}/ in the output, got:\n{run.output}")
    return run


API_CODE = """
import json, sys, time
from mlcd.workspace import Workspace

ws = Workspace(sys.argv[1])
times = []
for _ in range(int(sys.argv[4])):
    start = time.perf_counter()
    result = ws.snapshot(sys.argv[3], sys.argv[2])
    times.append(time.perf_counter() - start)
    assert not result.created, "expected an unchanged re-snapshot"
ws.close()
print(json.dumps(times))
"""


def meminfo(key: str) -> int:
    """A /proc/meminfo figure, in bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def fill_page_cache(runs: Path) -> float:
    """Read a sparse file the size of free memory, so the page cache fills the RAM.

    On a VM with free page reporting (virtio-balloon here) the guest hands free pages back to
    the host; the first write to each such page then costs a host fault: ~2.7 s per GiB
    measured on this machine, 20x the price of reusing a page. Every tool writes 2 GB, and
    whether its pages were fresh or reused would swing its time by seconds. With the cache
    full, new pages come from reclaiming clean ballast pages, as on a long-running host.
    Returns the GB read.
    """
    size = meminfo("MemFree") - (1 << 30)
    if size <= 0:
        return 0.0
    ballast = runs / "ballast"
    with open(ballast, "wb") as f:
        f.truncate(size)  # a hole: no disk space, zero pages in the cache
    warm(runs)
    return size / 1e9


class Bench:
    def __init__(self, tools: Tools, work: Path, data: Data, repeat: int) -> None:
        self.tools = tools
        self.work = work
        self.data = data
        self.src = data.src
        self.repeat = repeat
        # Outputs of every run are kept under runs/ and deleted at the end, not between runs:
        # this ext4 has no journal, and then allocating an inode scans past every inode
        # deleted in the last 60 s (`recently_deleted`, >50% of `cp -r`'s time in `perf`
        # when the previous copy had just been removed).
        self.runs_dir = work / "runs"
        self.ws = self.runs_dir / "mlcd-0"
        self.repo = data.src.parent  # the dvc repo holds the source (dvc adds in-repo paths)
        self.runs: dict[tuple[str, str], list[Run]] = {}
        self.api: list[float] = []
        self.new_bytes = 0
        self.floor = 0.0
        self.filled_gb = 0.0

    def record(self, tool: str, scenario: str, run: Run, keep: bool = True) -> None:
        if keep:
            self.runs.setdefault((tool, scenario), []).append(run)
        print(
            f"  {tool:<5} {scenario:<14} wall {run.wall:7.3f} s  cpu {run.cpu:7.3f} s"
            f"  rss {run.rss_mb:6.1f} MB  others {run.others:5.2f} s"
            f"{'' if keep else '  (warm-up, not counted)'}",
            flush=True,
        )

    # fresh state for a first snapshot: the previous state moves aside, nothing is deleted

    def reset_mlcd(self, r: int) -> None:
        self.ws = self.runs_dir / f"mlcd-{r}"
        quiet([*self.tools.mlcd, "init", str(self.ws)])

    def reset_dvc(self, r: int, init: bool = True) -> None:
        aside = self.runs_dir / f"dvc-{r}"
        aside.mkdir(parents=True, exist_ok=True)
        for name in (".dvc", ".dvcignore", f"{DATASET}.dvc"):
            if (self.repo / name).exists():
                (self.repo / name).rename(aside / name)
        if not init:
            return
        quiet([*self.tools.dvc, "init", "--no-scm", "-q"], cwd=self.repo, env=dvc_env(self.repo))
        # default cache mode (reflink, else copy: ext4 has no reflinks); no update check, which
        # would reach for the network from inside the measured command, and no analytics
        (self.repo / ".dvc" / "config").write_text(
            "[core]\n    no_scm = True\n    check_update = False\n    analytics = False\n"
        )

    # one run of each tool

    def mlcd(self, scenario: str, pattern: str, keep: bool = True) -> None:
        cmd = [*self.tools.mlcd, "data", "snapshot", DATASET, str(self.src)]
        self.record("mlcd", scenario, expect(measure(cmd, self.ws), pattern, "mlcd"), keep)

    def dvc(self, scenario: str, keep: bool = True) -> None:
        cmd = [*self.tools.dvc, "add", "-q", DATASET]
        self.record("dvc", scenario, measure(cmd, self.repo, dvc_env(self.repo)), keep)

    def cp(self, r: int, keep: bool = True) -> None:
        cmd = [*self.tools.cp, "-r", str(self.src), str(self.runs_dir / f"cp-{r}")]
        self.record("cp", "first", measure(cmd, self.work), keep)

    # the scenarios

    def run(self) -> None:
        if self.runs_dir.exists():
            print(f"removing {self.runs_dir} left by an earlier run", flush=True)
            rmtree(self.runs_dir)
        self.runs_dir.mkdir(parents=True)
        try:
            self._run()
        finally:
            print(f"\nremoving {self.runs_dir}", flush=True)
            self.reset_dvc(self.repeat + 1, init=False)
            rmtree(self.runs_dir)

    def _run(self) -> None:
        start = time.perf_counter()
        self.filled_gb = fill_page_cache(self.runs_dir)
        took = time.perf_counter() - start
        print(f"filled the page cache: {self.filled_gb:.1f} GB in {took:.0f} s", flush=True)
        self.floor = measure(["true"], self.work).rss_mb
        print(f"\nfirst snapshot into an empty store, warm page cache, 1 warm-up + {self.repeat}")
        for r in range(self.repeat + 1):
            keep = r > 0  # round 0 warms up interpreters, imports, file system metadata
            warm(self.src)
            self.cp(r, keep)
            self.reset_mlcd(r)
            warm(self.src)
            self.mlcd("first", r" created: ", keep)
            self.reset_dvc(r)
            warm(self.src)
            self.dvc("first", keep)
        # the last mlcd workspace and dvc repo stay for the re-snapshots

        print(f"\nre-snapshot, nothing changed, x{self.repeat}")
        for _ in range(self.repeat):
            self.mlcd("no-change", r"unchanged")
            self.dvc("no-change")
        self.api_no_change(max(5, self.repeat) + 1)

        print(f"\nre-snapshot after adding one new partition, x{self.repeat}")
        added: list[Path] = []
        try:
            for k in range(self.repeat):
                day = self.data.files + k
                added.append(new_partition(self.src, day, self.data.rows_per_file))
                self.new_bytes = (added[-1] / "part-0.parquet").stat().st_size
                self.mlcd("new-partition", r"\(1 files ingested")
                self.dvc("new-partition")
        finally:
            for folder in added:
                rmtree(folder)

    def api_no_change(self, calls: int) -> None:
        """Workspace.snapshot in one warm process: the re-snapshot without Python start-up."""
        cmd = [sys.executable, "-c", API_CODE, str(self.ws), str(self.src), DATASET, str(calls)]
        self.api = json.loads(quiet(cmd))
        print(
            f"  mlcd  API no-change  first call {self.api[0]:.3f} s, then median "
            f"{statistics.median(self.api[1:]):.3f} s over {len(self.api) - 1} calls",
            flush=True,
        )


# -- reporting ------------------------------------------------------------------------------


def med(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def machine(tools: Tools) -> list[tuple[str, str]]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    fs = quiet(["findmnt", "-n", "-o", "FSTYPE", "-T", str(HERE)]).strip()
    return [
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cores (nproc)", str(os.cpu_count())),
        ("CPU", cpu),
        ("RAM", f"{mem_kb / 1024**2:.1f} GiB"),
        ("OS", platform.platform()),
        ("filesystem", fs),
        ("Python", platform.python_version()),
        ("mlcd", f"{quiet([*tools.mlcd, '--version']).strip()} ({source_state()})"),
        ("dvc", "dvc " + quiet([*tools.dvc, "--version"]).strip()),
        ("cp", quiet([*tools.cp, "--version"]).splitlines()[0]),
    ]


def source_state() -> str:
    """The commit the measured mlcd was installed (editable) from, and whether src/ was dirty."""
    root = HERE.parent
    try:
        head = quiet(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]).strip()
        dirty = quiet(["git", "-C", str(root), "status", "--porcelain", "--", "src"]).strip()
    except (OSError, SystemExit):
        return "not a git checkout"
    return f"commit {head}{', src/ modified' if dirty else ''}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def report(bench: Bench, tools: Tools, command: str) -> str:
    runs = bench.runs
    size = bench.data.nbytes / 1e9
    lines = [
        SECTION,
        "",
        f"{bench.data.files:,} Hive partitions `date=YYYY-MM-DD/part-0.parquet` of random",
        f"numbers (incompressible: {size:.2f} GB on disk, "
        f"{bench.data.nbytes / bench.data.files / 1e6:.1f} MB a file).",
        "",
        "```",
        command,
        "```",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in machine(tools)),
        "",
        "How it is measured:",
        "",
        "- every tool runs as a subprocess of its CLI: `mlcd data snapshot sales SRC` in an",
        "  `mlcd init` workspace, `dvc add sales` in a `dvc init --no-scm` repo holding the",
        "  source (dvc in its own venv, default cache mode: copy, as ext4 has no reflinks;",
        "  update check and analytics off), `cp -r SRC DEST`; mlcd's bytecode is compiled",
        "  first (`compileall`), as `pip install` did for dvc;",
        "- wall time from fork to reap; CPU (user + sys) and peak RSS (`ru_maxrss`) of the",
        "  child from `os.wait4`, forked by a tiny launcher (`python -S`, nothing imported):",
        "  Linux counts the RSS a child has before exec in its `ru_maxrss`, so that launcher",
        f"  sets a floor of {bench.floor:.1f} MB (`true` measured the same way); cp's figure",
        "  is that floor. `sync` before each run, so no earlier write-back overlaps it;",
        "- 'others' CPU' is what the rest of the machine burned during the run (from",
        "  /proc/stat, minus the child's own): kernel threads working for the tool (reclaim,",
        "  write-back) and any other process; a large figure flags a disturbed run. Before",
        "  each run the benchmark waits (up to 5 s) for the machine to be idle: it waited",
        f"  {harness.QUIET['waited']:.0f} s in all, and {harness.QUIET['loud']} runs started"
        " with other work",
        "  still running;",
        "- warm page cache: the source is read once before every first snapshot, so all",
        "  three tools read from memory (the figures measure hashing and copying, not the",
        "  disk); no tool fsyncs, so writes land in the page cache for all three alike;",
        f"- the page cache is first filled ({bench.filled_gb:.0f} GB of a sparse file read):",
        "  this VM returns free pages to its host (virtio-balloon free page reporting), and",
        "  writing to such a page costs a host fault, ~2.7 s per GiB against ~0.13 s for a",
        "  reused page; whether a tool's 2 GB of writes met fresh or reused pages swung",
        "  `cp -r` between 1.7 and 6.5 s. With the cache full, new pages come from reclaim,",
        "  as on a long-running machine;",
        "- nothing is deleted between runs (each run's output is moved aside, all deleted at",
        "  the end): this ext4 runs without a journal, and then creating a file scans past",
        "  every inode deleted in the last 60 s (`recently_deleted`: over half of `cp -r`'s",
        "  time in `perf` right after the previous copy was removed);",
        "- the source files' mtimes are set an hour back after generating them, so none is",
        "  'racily clean' (mtime within 2 s of being indexed, which mlcd re-hashes once);",
        "  the new partitions are backdated the same way;",
        f"- first snapshots: one warm-up round (not counted), then {bench.repeat} rounds, tools",
        "  interleaved, each into an empty store (a new workspace; a new `.dvc/` with its",
        "  state inside it). Re-snapshots run on the last round's store. Each scenario is",
        f"  run {bench.repeat} times, median shown, every run listed; each new-partition run",
        f"  adds one more {bench.new_bytes / 1e6:.1f} MB partition.",
        "",
        "| tool | scenario | wall (s) | best wall (s) | CPU (s) | peak RSS (MB) "
        "| others' CPU (s) | runs, wall (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (tool, scenario), rs in runs.items():
        lines.append(
            f"| {tool} | {scenario} | {med(rs, 'wall'):.3f} | {min(r.wall for r in rs):.3f} "
            f"| {med(rs, 'cpu'):.3f} "
            f"| {max(r.rss_mb for r in rs):.0f} | {med(rs, 'others'):.2f} "
            f"| {', '.join(f'{r.wall:.3f}' for r in rs)} |"
        )
    api_warm = statistics.median(bench.api[1:])
    lines.append(
        f"| mlcd (Python API) | no-change | {api_warm:.3f} | {min(bench.api[1:]):.3f} | | | "
        f"| first call in the process "
        f"{bench.api[0]:.3f}, then {', '.join(f'{t:.3f}' for t in bench.api[1:])} |"
    )

    first = {t: med(runs[(t, "first")], "wall") for t in ("mlcd", "dvc", "cp")}
    no_change = {t: med(runs[(t, "no-change")], "wall") for t in ("mlcd", "dvc")}
    new = {t: med(runs[(t, "new-partition")], "wall") for t in ("mlcd", "dvc")}
    best = {(t, sc): min(r.wall for r in rs) for (t, sc), rs in runs.items()}
    rss = max(r.rss_mb for (t, _), rs in runs.items() if t == "mlcd" for r in rs)
    extra = new["mlcd"] - no_change["mlcd"]
    at_rate = first["mlcd"] * bench.new_bytes / bench.data.nbytes
    proportional = extra < 0.1
    lines += [
        "",
        "| target | figure | verdict |",
        "| --- | --- | --- |",
        f"| first snapshot >= {FIRST_VS_DVC:g}x faster than `dvc add` | dvc / mlcd = "
        f"{first['dvc'] / first['mlcd']:.2f}x (best runs "
        f"{best[('dvc', 'first')] / best[('mlcd', 'first')]:.2f}x) | "
        f"{verdict(first['dvc'] / first['mlcd'] >= FIRST_VS_DVC)} |",
        f"| first snapshot within {FIRST_VS_CP:g}x of `cp -r` | mlcd / cp = "
        f"{first['mlcd'] / first['cp']:.2f}x (best runs "
        f"{best[('mlcd', 'first')] / best[('cp', 'first')]:.2f}x) | "
        f"{verdict(first['mlcd'] / first['cp'] <= FIRST_VS_CP)} |",
        f"| no-change re-snapshot < {RESNAP_S:g} s (CLI) | {no_change['mlcd']:.3f} s "
        f"(best {best[('mlcd', 'no-change')]:.3f} s; dvc {no_change['dvc']:.3f} s) | "
        f"{verdict(no_change['mlcd'] < RESNAP_S)} |",
        f"| ... through the Python API, warm process | {api_warm:.3f} s | "
        f"{verdict(api_warm < RESNAP_S)} |",
        f"| one new partition < {RESNAP_S:g} s (CLI) | {new['mlcd']:.3f} s "
        f"(best {best[('mlcd', 'new-partition')]:.3f} s; dvc {new['dvc']:.3f} s) | "
        f"{verdict(new['mlcd'] < RESNAP_S)} |",
        f"| ... proportional to the new data | {extra:.3f} s over the no-change run for "
        f"{bench.new_bytes / 1e6:.1f} MB (first-snapshot rate: {at_rate:.3f} s) | "
        f"{verdict(proportional)} |",
        f"| peak RSS < {RSS_MB} MB (any mlcd run) | {rss:.0f} MB | {verdict(rss < RSS_MB)} |",
        "",
        "Verdicts use the medians. 'Proportional' is judged met when a new partition costs",
        "less than 0.1 s on top of the no-change re-snapshot (whose cost is a stat of every",
        "file, which any incremental tool pays).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="total size of the data")
    parser.add_argument("--files", type=int, default=1000, help="number of partitions")
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="scratch folder")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    command = "python bench/snapshot.py " + " ".join(sys.argv[1:])

    started = time.perf_counter()
    tools = find_tools()
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    data = prepare_data(work, args.size_gb, args.files)
    need = (args.repeat + 1) * 3 * data.nbytes + data.nbytes  # every first snapshot is kept
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(f"needs {need / 1e9:.0f} GB free in {work}, has {free / 1e9:.0f} GB")
    print(f"load average before the run: {os.getloadavg()[0]:.2f}", flush=True)
    bench = Bench(tools, work, data, args.repeat)
    bench.run()
    section = report(bench, tools, command.strip())
    print("\n" + section)
    if not args.no_write:
        write_section(RESULTS, SECTION, section)
        print(f"wrote {RESULTS}")
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
