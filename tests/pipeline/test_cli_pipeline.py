"""`mlcd run`, `runs list/show/compare`, `logs`, `env show/diff` on real steps; Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mlcd.pipeline import env as env_module
from tests.pipeline.conftest import Cli, Project, mlcd_process

# -- mlcd run --------------------------------------------------------------------------------


def test_run_prints_a_line_per_step_and_the_run(project: Project, cli: Cli) -> None:
    result = cli("run")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert [line.split() for line in lines[:4]] == [
        ["cached", "notes"],
        ["cached", "prepare"],
        ["cached", "train"],
        ["cached", "report"],
    ]
    run_id = project.ws().get_run("latest").id
    assert lines[4] == f"run {run_id}: succeeded"

    result = cli("--quiet", "run", "report", "--set", "report.title=daily")
    assert result.code == 0, result.err
    assert [line.split()[:2] for line in result.out.splitlines()[:3]] == [
        ["cached", "prepare"],
        ["cached", "train"],
        ["ran", "report"],
    ]


def test_run_json(project: Project, cli: Cli) -> None:
    data = cli("run", "--set", "report.title=daily", "--json").json()
    assert data["status"] == "succeeded"
    assert data["run_id"] == project.ws().get_run("latest").id
    steps = {s["step"]: s for s in data["steps"]}
    assert [s["step"] for s in data["steps"]] == ["notes", "prepare", "train", "report"]
    assert steps["train"]["status"] == "cached" and steps["report"]["status"] == "succeeded"
    assert steps["train"]["key"].startswith("b3:")
    assert steps["train"]["metrics"]["eval.lr"] == 0.01  # a cached step keeps its metrics
    assert steps["train"]["outputs"]["model"]["path"] == "model"
    assert steps["train"]["outputs"]["model"]["kind"] == "dir"
    assert steps["report"]["outputs"]["report"]["kind"] == "file"
    assert steps["train"]["error"] is None and steps["train"]["differing"] == []


def test_run_with_seed_force_and_jobs(project: Project, cli: Cli) -> None:
    data = cli("run", "notes", "--seed", "5", "--json").json()
    assert [s["status"] for s in data["steps"]] == ["succeeded"]
    data = cli("run", "notes", "--seed", "5", "--json").json()
    assert [s["status"] for s in data["steps"]] == ["cached"]
    data = cli("run", "notes", "-f", "-j", "2", "--json").json()
    assert [s["status"] for s in data["steps"]] == ["succeeded"]
    assert cli("runs", "show", "latest", "--json").json()["seed"] == 42


FAILING = {
    "bad": {
        "run": "sh -c 'echo partial; echo boom: no rows >&2; exit 1'",
        "outputs": {"out": "bad.txt"},
    },
    "after": {"run": "true", "inputs": ["steps.bad.out"]},
    "ok": {"run": "sh -c 'echo fine > ok.txt'", "outputs": {"out": "ok.txt"}},
}


def test_a_failing_run_exits_non_zero_and_keeps_its_logs(bare: Project, cli: Cli) -> None:
    bare.configure(FAILING)
    result = cli("run")
    assert result.code == 1
    assert "FAILED bad: exited with code 1: boom: no rows" in result.out
    assert "skipped after: bad did not succeed" in result.out
    assert "ran ok" in result.out
    assert result.out.strip().splitlines()[-1].endswith(": failed")

    assert cli("logs", "latest", "bad", "--stderr").out == "boom: no rows\n"
    assert cli("logs", "latest", "bad").out == "partial\n"
    shown = cli("runs", "show", "latest", "--json").json()
    assert shown["status"] == "failed"
    assert shown["error"] == "bad: exited with code 1: boom: no rows"
    assert {s["step"]: s["status"] for s in shown["steps"]} == {
        "bad": "failed",
        "ok": "succeeded",
        "after": "skipped",
    }
    human = cli("runs", "show", "latest")
    assert "failed (bad: exited with code 1: boom: no rows)" in human.out

    data = json.loads(cli("run", "--json").out)  # exit 1, still JSON on stdout
    assert data["status"] == "failed"
    assert {s["step"]: s["status"] for s in data["steps"]}["bad"] == "failed"  # nothing cached


def test_logs_of_an_unknown_step_or_run(project: Project, cli: Cli) -> None:
    result = cli("logs", "latest", "nope")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: run ") and lines[0].endswith(" has no step 'nope'")
    assert lines[1] == "hint: its steps: notes, prepare, train, report"
    result = cli("logs", "zzz", "train")
    assert result.code == 1 and result.err.startswith("error: run 'zzz' does not exist")


def test_check_determinism_from_the_cli(bare: Project, cli: Cli) -> None:
    bare.write(
        "noisy.py",
        "import os\nfrom pathlib import Path\n\nPath('noisy.bin').write_bytes(os.urandom(16))\n",
    )
    bare.configure(
        {
            "noisy": {"run": "python noisy.py", "outputs": {"o": "noisy.bin"}},
            "steady": {"run": "sh -c 'echo 1 > steady.txt'", "outputs": {"o": "steady.txt"}},
        }
    )
    result = cli("run", "--check-determinism")
    assert result.code == 1
    assert "NONDETERMINISTIC noisy: outputs differ between two runs: noisy.bin" in result.out
    assert "differs: noisy.bin" in result.out
    assert "ran steady" in result.out
    data = json.loads(cli("run", "--check-determinism", "--json").out)
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["noisy"]["status"] == "nondeterministic"  # not cached by the first check
    assert steps["noisy"]["differing"] == ["noisy.bin"]
    assert steps["steady"]["status"] == "cached"


def test_require_clean_from_the_cli(
    bare: Project, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    bare.configure({"a": {"run": "true"}})
    ident = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *ident, *args], cwd=bare.root, check=True)
    assert cli("run", "--require-clean").code == 0
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=bare.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    listed = cli("runs", "list").out
    assert head[:10] in listed and head[:10] + "*" not in listed

    (bare.root / "mlcd.yaml").write_text((bare.root / "mlcd.yaml").read_text() + "\n")
    result = cli("run", "--require-clean")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: the work tree has uncommitted changes: mlcd.yaml",
        "hint: commit or stash your changes, or run without --require-clean",
    ]
    assert cli("run").code == 0
    assert head[:10] + "*" in cli("runs", "list").out  # the dirty run is marked
    shown = cli("runs", "show", "latest").out
    assert f"{head} main (dirty)" in shown


# -- runs list / show / compare --------------------------------------------------------------


def test_runs_list(project: Project, cli: Cli) -> None:
    second = cli("run", "--set", "report.title=daily", "--json").json()["run_id"]
    data = cli("runs", "list", "--json").json()
    assert [r["id"] for r in data] == [second, project.first_run]  # newest first
    assert data[0]["status"] == "succeeded" and data[0]["params"]["report"]["title"] == "daily"
    assert [r["id"] for r in cli("runs", "list", "-n", "1", "--json").json()] == [second]

    table = cli("runs", "list").out
    rows = [line for line in table.splitlines() if second in line or project.first_run in line]
    assert len(rows) == 2
    newest = rows[0].replace("│", " ").split()
    assert newest[0] == second and newest[1] == "succeeded"
    assert newest[-3:] == ["1", "3", "-"]  # ran report; 3 cached; no git
    assert rows[1].replace("│", " ").split()[-3:] == ["4", "0", "-"]


def test_runs_list_when_there_are_none(bare: Project, cli: Cli) -> None:
    assert cli("runs", "list").out.strip() == "no runs yet: mlcd run"
    assert cli("runs", "list", "--json").json() == []
    result = cli("runs", "show", "latest")
    assert result.code == 1 and result.err.startswith("error: there are no runs yet")


def test_runs_show(project: Project, cli: Cli) -> None:
    data = cli("runs", "show", project.first_run, "--json").json()
    assert data["id"] == project.first_run and data["status"] == "succeeded"
    assert data["seed"] == 42 and data["git"] is None
    assert data["params"]["train"]["lr"] == 0.01
    assert data["inputs"]["datasets.sales@latest"]["ref"] == "sales@1"
    assert data["env"]["python"] and data["env_lock"].startswith("b3:")
    assert data["duration"] > 0 and data["ended_at"] >= data["started_at"]
    steps = {s["step"]: s for s in data["steps"]}
    assert set(steps) == {"notes", "prepare", "train", "report"}
    train = steps["train"]
    assert train["status"] == "succeeded" and train["key"].startswith("b3:")
    assert train["outputs"]["model"]["files"] == 1
    assert train["metrics"]["loss"] == pytest.approx(1 / 3)
    assert [r["value"] for r in train["logged"]] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert train["stdout"] is not None  # the log blobs
    assert train["duration"] > 0

    human = cli("runs", "show", project.first_run).out
    assert f"run      {project.first_run}" in human
    assert "status   succeeded" in human
    assert "inputs   sales@1" in human
    assert "git      no git" in human
    assert "loss=0.333333" in human and "eval.lr=0.01" in human


def test_run_ids_by_prefix_and_latest(project: Project, cli: Cli) -> None:
    second = cli("run", "notes", "--json").json()["run_id"]
    ids = [project.first_run, second]
    for run_id in ids:
        others = [i for i in ids if i != run_id]
        n = next(
            n for n in range(1, len(run_id)) if not any(o.startswith(run_id[:n]) for o in others)
        )
        assert cli("runs", "show", run_id[:n], "--json").json()["id"] == run_id
    assert cli("runs", "show", "latest", "--json").json()["id"] == second
    assert cli("runs", "show", "last", "--json").json()["id"] == second

    result = cli("runs", "show", "2")  # every run id starts with the year
    assert result.code == 1
    assert result.err.startswith("error: run id prefix '2' is ambiguous")
    result = cli("runs", "show", "19990101")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: run '19990101' does not exist",
        "hint: see `mlcd runs list`",
    ]


def test_runs_compare(project: Project, cli: Cli) -> None:
    second = cli("run", "--set", "train.lr=0.5", "--json").json()["run_id"]
    data = cli("runs", "compare", project.first_run, second, "--json").json()
    assert data["a"] == project.first_run and data["b"] == second
    assert data["params"] == [{"key": "train.lr", "a": 0.01, "b": 0.5}]
    metrics = {m["key"]: (m["a"], m["b"]) for m in data["metrics"]}
    assert metrics["train.eval.lr"] == (0.01, 0.5)
    assert metrics["train.loss"] == (pytest.approx(1 / 3), pytest.approx(1 / 3))  # all listed
    assert data["seed"] is None
    assert data["inputs"] == [] and data["git"] is None
    assert data["env"] == {"added": {}, "removed": {}, "changed": {}}

    human = cli("runs", "compare", project.first_run, "latest").out
    assert f"{project.first_run} -> {second}" in human
    row = next(line for line in human.splitlines() if "train.lr" in line)
    assert row.replace("│", " ").split() == ["train.lr", "0.01", "0.5"]
    row = next(line for line in human.splitlines() if "train.eval.lr" in line)
    assert row.replace("│", " ").split() == ["train.eval.lr", "0.01", "0.5"]
    assert "seed:" not in human

    third = cli("run", "notes", "--seed", "3", "--json").json()["run_id"]
    data = cli("runs", "compare", second, third, "--json").json()
    assert data["seed"] == {"a": 42, "b": 3}
    assert data["params"] == [{"key": "train.lr", "a": 0.5, "b": 0.01}]
    assert "seed: 42 -> 3" in cli("runs", "compare", second, third).out


def test_runs_compare_of_identical_runs(project: Project, cli: Cli) -> None:
    second = cli("run", "--json").json()["run_id"]
    human = cli("runs", "compare", project.first_run, second).out
    assert "same params, inputs, seed, code and environment" in human
    data = cli("runs", "compare", project.first_run, second, "--json").json()
    assert data["params"] == [] and data["inputs"] == [] and data["seed"] is None


def test_runs_compare_shows_a_new_dataset_version(project: Project, cli: Cli) -> None:
    from tests.conftest import write_partitions

    new = write_partitions(project.root / "data" / "more", ["2024-02-01"], rows=5, seed=1)
    assert cli("data", "snapshot", "sales", str(new)).code == 0
    second = cli("run", "prepare", "--json").json()["run_id"]
    data = cli("runs", "compare", project.first_run, second, "--json").json()
    assert data["inputs"] == [{"key": "datasets.sales@latest", "a": "sales@1", "b": "sales@2"}]


# -- env show / diff -------------------------------------------------------------------------


def test_env_show(project: Project, cli: Cli) -> None:
    import mlcd

    data = cli("env", "show", "latest", "--json").json()
    assert data["run"] == project.first_run
    assert data["lock_hash"] == project.ws().get_run("latest").env_lock
    assert data["packages"]["mlcd"] == mlcd.__version__
    assert data["python"] == ".".join(map(str, sys.version_info[:3]))
    human = cli("env", "show", project.first_run).out
    assert f"lock         {data['lock_hash']}" in human
    assert f"python       {data['python']} ({data['implementation']})" in human
    row = next(line for line in human.splitlines() if " mlcd " in line)
    assert mlcd.__version__ in row


def test_env_diff(project: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    same = cli("env", "diff", project.first_run, "latest")
    assert same.code == 0
    assert same.out.startswith(f"{project.first_run} and {project.first_run} ran in the same")

    captured = env_module.capture_environment()
    packages = dict(captured.packages)
    del packages["pyyaml"]
    packages["numpy"] = "0.0.1"
    packages["left-pad"] = "1.0"
    monkeypatch.setattr(
        env_module, "capture_environment", lambda: replace(captured, packages=packages)
    )
    second = cli("run", "notes", "--json").json()
    assert second["steps"][0]["status"] == "succeeded"  # a new environment: no cache hit

    data = cli("env", "diff", project.first_run, second["run_id"], "--json").json()
    assert data["added"] == {"left-pad": "1.0"}
    assert data["removed"] == {"pyyaml": captured.packages["pyyaml"]}
    assert data["changed"] == {"numpy": [captured.packages["numpy"], "0.0.1"]}
    assert data["python"] is None

    human = cli("env", "diff", project.first_run, second["run_id"]).out
    rows = {
        line.replace("│", " ").split()[0]: line.replace("│", " ").split()[1:]
        for line in human.splitlines()
        if line.startswith("│")
    }
    assert rows["left-pad"] == ["-", "1.0"]
    assert rows["pyyaml"] == [captured.packages["pyyaml"], "-"]
    assert rows["numpy"] == [captured.packages["numpy"], "0.0.1"]

    compared = cli("runs", "compare", project.first_run, second["run_id"], "--json").json()
    assert compared["env"]["changed"] == {"numpy": [captured.packages["numpy"], "0.0.1"]}


# -- Ctrl-C ----------------------------------------------------------------------------------

SLEEPER = """\
import os
import sys
import time
from pathlib import Path

name = sys.argv[1]
Path(name + ".pid").write_text(str(os.getpid()))
print("sleeping", flush=True)
time.sleep(float(Path("sleep.txt").read_text()))
Path(name + ".txt").write_text("done")
"""


def gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for its reaper has exited too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # Linux: the state letter follows the command name in parentheses
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in "ZX"
    except (FileNotFoundError, IndexError):
        return True


def wait_for_pids(root: Path, names: list[str], proc: subprocess.Popen[str]) -> list[int]:
    deadline = time.monotonic() + 10
    files = [root / f"{name}.pid" for name in names]
    while not all(f.exists() and f.read_text() for f in files):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the steps never started"
        time.sleep(0.05)
    return [int(f.read_text()) for f in files]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "sleepers"),
    [(signal.SIGINT, ["sleeper"]), (signal.SIGTERM, ["sleeper", "sleeper2"])],
    ids=["ctrl-c", "sigterm-two-steps-in-parallel"],
)
def test_interrupting_a_run_stops_its_steps_and_records_it(
    bare: Project, cli: Cli, how: signal.Signals, sleepers: list[str]
) -> None:
    bare.write("sleeper.py", SLEEPER)
    (bare.root / "sleep.txt").write_text("60")  # not an input: the keys stay the same below
    steps = {
        "quick": {"run": "sh -c 'echo q > quick.txt'", "outputs": {"o": "quick.txt"}},
        **{
            name: {"run": f"python sleeper.py {name}", "outputs": {"o": f"{name}.txt"}}
            for name in sleepers
        },
        "after": {"run": "true", "inputs": [f"steps.{name}.o" for name in sleepers]},
    }
    bare.configure(steps)
    proc = mlcd_process("run", "-j", str(len(sleepers)), cwd=bare.root)
    try:
        pids = wait_for_pids(bare.root, sleepers, proc)
        assert not any(gone(pid) for pid in pids)
        time.sleep(0.2)  # the steps are sleeping now
        started = time.monotonic()
        proc.send_signal(how)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 4, "mlcd waited for its steps instead of stopping them"
    assert "interrupted" in err and "Traceback" not in err

    deadline = time.monotonic() + 5
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"step processes {pids} survived the signal"
        time.sleep(0.05)
    assert not any((bare.root / f"{name}.txt").exists() for name in sleepers)

    shown = cli("runs", "show", "latest", "--json").json()
    assert shown["status"] == "interrupted"
    assert shown["error"] == "interrupted by the user"
    assert shown["command"] == f"mlcd run -j {len(sleepers)}"
    assert shown["ended_at"] is not None
    recorded = {s["step"]: s["status"] for s in shown["steps"]}
    assert recorded == {"quick": "succeeded", **{name: "interrupted" for name in sleepers}}
    for name in sleepers:
        assert cli("logs", "latest", name).out == "sleeping\n"  # its logs are kept

    # nothing was cached for them: the next run executes them (quickly, now)
    (bare.root / "sleep.txt").write_text("0")
    data = cli("run", "--json").json()
    assert {s["step"]: s["status"] for s in data["steps"]} == {
        "quick": "cached",
        **{name: "succeeded" for name in sleepers},
        "after": "succeeded",
    }
