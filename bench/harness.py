"""What the benchmarks share: measuring a child process (wall, CPU, peak RSS), waiting for a
quiet machine, helper commands, and writing a section of RESULTS.md. Standard library only:
the peer tools' venvs import it too."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

# The measured command is forked by this tiny launcher, not by the benchmark itself: Linux
# counts the RSS a child had before exec (a copy of its parent's) in its ru_maxrss, so a child
# of a benchmark (numpy and pyarrow loaded) could never report less than ~100 MB. The launcher
# (`python -S`, nothing imported) keeps that floor at a few MB. Wall time is taken in the
# launcher too, from fork to reap, without its own start-up.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    f.write(repr((wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, code)))
"""


def launch(
    cmd: Sequence[str], cwd: Path, env: dict[str, str] | None, stdout: IO[Any], stderr: Any
) -> tuple[float, float, float, int, float]:
    """Run `cmd` through the launcher: (wall s, CPU s, peak RSS MB, exit code, CPU seconds the
    rest of the machine used meanwhile)."""
    with tempfile.TemporaryDirectory() as tmp:
        rusage = Path(tmp) / "rusage"
        busy = cpu_busy()
        subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, str(rusage), *cmd],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            check=False,
        )
        busy = cpu_busy() - busy
        wall, cpu, maxrss_kb, code = ast.literal_eval(rusage.read_text())
    # ru_maxrss is in KB on Linux; launcher start-up (~20 ms) counts among the others
    return wall, cpu, maxrss_kb / 1024, code, max(0.0, busy - cpu)


def cpu_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores, not idle/iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


QUIET = {"waited": 0.0, "loud": 0}  # time spent waiting for a quiet machine; runs started loud


def wait_quiet(limit: float, window: float, cores: float) -> None:
    """Wait until the machine is idle (under `cores` busy over `window`), at most `limit` s.

    Other work on the machine (a test suite, a build) steals one of the two cores and inflates
    wall times; a run that starts anyway is counted in QUIET["loud"].
    """
    start = time.perf_counter()
    while True:
        busy = cpu_busy()
        time.sleep(window)
        if (cpu_busy() - busy) / window < cores:
            break
        if time.perf_counter() - start > limit:
            QUIET["loud"] += 1
            break
    QUIET["waited"] += time.perf_counter() - start


def quiet(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run an untimed helper command; fail loudly."""
    res = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAILED ({res.returncode}): {' '.join(cmd)}\n{res.stdout}{res.stderr}")
    return res.stdout


def rmtree(path: Path) -> None:
    if path.exists():
        # blobs are stored read-only; root can delete them, others need the write bit back
        def onerror(func: Callable[..., object], p: str, exc: object) -> None:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o644)
            func(p)

        shutil.rmtree(path, onerror=onerror)


def write_section(results: Path, title: str, section: str) -> None:
    """Replace the section headed `title` in RESULTS.md (or append it), keeping the others."""
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    start = text.find(title)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(title))
        text = text[:start] + section + ("" if nxt < 0 else "\n" + text[nxt + 1 :])
    results.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
