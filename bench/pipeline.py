"""Benchmark: a no-op rerun of a 10-step pipeline, `mlcd run` against `dvc repro`.

Both tools get the same project: ten chained steps on small data, each a `python step.py i`
that reads the previous step's output and writes its own. After one full run of each, the
measured runs change nothing, so each tool only has to prove that every step is up to date.

    python bench/pipeline.py [--repeats 7] [--work bench/.work/pipeline]

dvc is installed in its own venv (bench/.venv-dvc), never as a project dependency. Results go
to stdout and to the `## Pipeline` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness import write_section

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".venv-dvc"
STEPS = 10

STEP_SCRIPT = textwrap.dedent(
    """\
    import sys, pathlib
    i = int(sys.argv[1])
    src = pathlib.Path("data/raw.csv" if i == 0 else f"out/s{i - 1}.csv")
    rows = src.read_text().splitlines()
    pathlib.Path("out").mkdir(exist_ok=True)
    pathlib.Path(f"out/s{i}.csv").write_text("\\n".join(r + f",{i}" for r in rows) + "\\n")
    """
)


def ensure_dvc() -> Path:
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return dvc


def make_project(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.csv").write_text("".join(f"{i},{i * i}\n" for i in range(1000)))
    (root / "step.py").write_text(STEP_SCRIPT)


def mlcd_project(root: Path) -> list[str]:
    make_project(root)
    mlcd = [sys.executable, "-m", "mlcd"]
    subprocess.run([*mlcd, "init", str(root)], check=True, capture_output=True)
    lines = ["steps:"]
    for i in range(STEPS):
        src = "data/raw.csv" if i == 0 else f"steps.s{i - 1}.out"
        lines += [
            f"  s{i}:",
            f"    run: python step.py {i}",
            f"    inputs: [{src}]",
            "    deps: [step.py]",
            f"    outputs: {{out: out/s{i}.csv}}",
        ]
    config = root / "mlcd.yaml"
    config.write_text(
        config.read_text().replace("datasets: {}", "datasets: {}\n" + "\n".join(lines))
    )
    return [*mlcd, "--quiet", "run"]


def dvc_project(root: Path, dvc: Path) -> list[str]:
    make_project(root)
    subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=root, check=True)
    lines = ["stages:"]
    for i in range(STEPS):
        src = "data/raw.csv" if i == 0 else f"out/s{i - 1}.csv"
        lines += [
            f"  s{i}:",
            f"    cmd: {sys.executable} step.py {i}",
            f"    deps: [{src}, step.py]",
            f"    outs: [out/s{i}.csv]",
        ]
    (root / "dvc.yaml").write_text("\n".join(lines) + "\n")
    return [str(dvc), "repro", "-q"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (KB) of one run of `cmd`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def in_process_noop(root: Path, repeats: int) -> float:
    """mlcd's own work for a no-op run, without interpreter start-up and imports."""
    code = textwrap.dedent(
        f"""
        import time, statistics, mlcd
        ws = mlcd.Workspace({str(root)!r})
        ws.run()
        times = []
        for _ in range({repeats}):
            t0 = time.perf_counter(); r = ws.run(); times.append(time.perf_counter() - t0)
            assert all(s.status == "cached" for s in r.steps), r
        print(statistics.median(times))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "pipeline")
    args = parser.parse_args()
    dvc = ensure_dvc()
    tools = {
        "mlcd run": (args.work / "mlcd", mlcd_project),
        "dvc repro": (args.work / "dvc", lambda root: dvc_project(root, dvc)),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (root, setup) in tools.items():
        cmd = setup(root)
        first = timed(cmd, root)  # the real run: every step executes
        samples = [timed(cmd, root) for _ in range(args.repeats)]
        results[name] = {
            "first": first[0],
            "wall": statistics.median(s[0] for s in samples),
            "cpu": statistics.median(s[1] for s in samples),
            "rss": max(s[2] for s in samples) / 1024,
        }
        print(f"{name:10} first {first[0]:.2f} s, no-op median {results[name]['wall']:.3f} s")
    api = in_process_noop(tools["mlcd run"][0], args.repeats)
    ratio = results["dvc repro"]["wall"] / results["mlcd run"]["wall"]
    dvc_version = subprocess.run([str(dvc), "--version"], capture_output=True, text=True).stdout
    report = write_report(results, api, ratio, dvc_version.strip(), args.repeats)
    print(report)


def write_report(
    results: dict[str, dict[str, float]], api: float, ratio: float, dvc_version: str, repeats: int
) -> str:
    from mlcd import __version__

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mlcd_wall = results["mlcd run"]["wall"]
    ratio_ok = "met" if ratio >= 3 else "MISSED"
    wall_ok = "met" if mlcd_wall < 0.3 else "MISSED"
    rows = "\n".join(
        f"| {name} | {r['first']:.2f} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['rss']:.0f} |"
        for name, r in results.items()
    )
    lines = [
        "## Pipeline (bench/pipeline.py)",
        "",
        "A 10-step chained pipeline on small data (1,000-row CSV), no-op rerun: every step is",
        f"up to date. Median of {repeats} runs after one full run; each tool as a CLI process.",
        "",
        f"- machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}",
        f"- versions: mlcd {__version__}, dvc {dvc_version}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')} UTC",
        f"- command: `python bench/pipeline.py --repeats {repeats}`",
        "",
        "| tool | first run (s) | no-op wall (s) | no-op CPU (s) | peak RSS (MB) |",
        "|---|---|---|---|---|",
        rows,
        "",
        f"- mlcd in-process no-op (`Workspace.run()`, no interpreter start-up): {api:.3f} s",
        f"- dvc / mlcd no-op wall: **{ratio:.1f}x** (target >= 3x: {ratio_ok})",
        f"- mlcd no-op wall {mlcd_wall:.3f} s (target < 0.3 s: {wall_ok})",
        "",
    ]
    section = "\n".join(lines)
    write_section(HERE / "RESULTS.md", "## Pipeline (bench/pipeline.py)", section)
    return section


if __name__ == "__main__":
    main()
