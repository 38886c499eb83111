"""Real processes: concurrent processors, a killed one, an interrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mlcd.events.log import ALIAS_MOVED
from tests.events.conftest import Hooked, Receiver, wait_for
from tests.postgres import BACKENDS

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL

MOVED = {"model": "churn", "version": 3, "alias": "production", "from_version": 2}


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlcd", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_four_concurrent_processors_run_every_action_exactly_once(
    hooked: Hooked, receiver: Receiver
) -> None:
    ws = hooked.configure(
        {
            ALIAS_MOVED: [
                "sleep 0.1; echo {id} $PPID >> actions.txt",  # $PPID: the processor
                {"webhook": receiver.url + "/hook"},
            ]
        }
    )
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED, n=20)
    procs = [start(ws.root, "events", "process", "--json") for _ in range(4)]
    reported = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reported += len(json.loads(out))
    assert reported == 40

    lines = [line.split() for line in hooked.lines("actions.txt")]
    assert Counter(event_id for event_id, _ in lines) == {str(i): 1 for i in range(1, 21)}
    assert len({pid for _, pid in lines}) >= 2, "the processors did not overlap"
    assert sorted(p["id"] for p in receiver.posts("/hook")) == list(range(1, 21))
    claims = hooked.claims()
    assert len(claims) == 40 and {(r["status"], r["attempts"]) for r in claims} == {("done", 1)}
    # whichever processor finished last moved the shared cursor past every event
    assert ws.process_events() == []
    assert len(hooked.lines("actions.txt")) == 20


@pytest.mark.slow
def test_an_action_of_a_killed_processor_runs_again(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> actions.txt; echo $$ > started; sleep 60"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    proc = start(ws.root, "events", "process")
    wait_for(lambda: (ws.root / "started").exists() and bool(hooked.lines("started")))
    proc.kill()  # no chance to clean up: the claim stays, held by a dead pid
    proc.communicate()
    os.killpg(int(hooked.lines("started")[0]), signal.SIGKILL)  # the action's own group
    assert [r["status"] for r in hooked.claims()] == ["claimed"]

    hooked.configure({ALIAS_MOVED: "echo {id} >> actions.txt"})
    (result,) = hooked.ws().process_events()
    assert result.ok and result.attempts == 2
    # at least once: the killed processor had run the command before it died
    assert hooked.lines("actions.txt") == ["1", "1"]


@pytest.mark.slow
def test_ctrl_c_gives_the_claim_up_and_the_action_runs_next_time(hooked: Hooked) -> None:
    ws = hooked.configure({ALIAS_MOVED: "touch started; sleep 60; echo {id} >> actions.txt"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    proc = start(ws.root, "events", "process")
    wait_for((ws.root / "started").exists, timeout=30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert hooked.claims() == []

    hooked.configure({ALIAS_MOVED: "echo {id} >> actions.txt"})
    (result,) = hooked.ws().process_events()
    assert result.ok and result.attempts == 1
    assert hooked.lines("actions.txt") == ["1"]
