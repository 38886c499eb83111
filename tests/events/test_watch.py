"""`watch`: picks up events as they arrive, stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlcd.events.log import ALIAS_MOVED
from mlcd.events.processor import ActionResult
from tests.events.conftest import Hooked, wait_for

MOVED = {"model": "churn", "version": 3, "alias": "production", "from_version": 2}


def test_watch_runs_an_event_emitted_while_it_runs_and_stops_on_request(hooked: Hooked) -> None:
    hooked.configure({ALIAS_MOVED: "echo {id} {alias} >> moved.txt"})
    watcher = hooked.ws()  # its own connection, as another process would have
    stop = threading.Event()
    seen: list[ActionResult] = []
    count: list[int] = []
    thread = threading.Thread(
        target=lambda: count.append(watcher.watch(0.05, stop=stop, on_result=seen.append))
    )
    thread.start()
    try:
        hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
        wait_for(lambda: len(hooked.lines("moved.txt")) == 1)
        hooked.emit(ALIAS_MOVED, "churn@4", {**MOVED, "alias": "staging"})
        wait_for(lambda: len(hooked.lines("moved.txt")) == 2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert count == [2] and [r.subject for r in seen] == ["churn@3", "churn@4"]
    assert hooked.lines("moved.txt") == ["1 production", "2 staging"]


@pytest.mark.slow
def test_mlcd_watch_exits_cleanly_on_ctrl_c(hooked: Hooked, tmp_path: Path) -> None:
    ws = hooked.configure({ALIAS_MOVED: "echo {id} >> moved.txt"})
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlcd", "watch", "--interval", "0.1"],
            cwd=ws.root,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
            done = "done   #1 alias_moved churn@3  shell: echo {id} >> moved.txt"
            wait_for(lambda: done in out.read_text(), timeout=30)  # printed once recorded
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "watching for events every 0.1 s" in err and "stopped watching" in err, err
    assert "Traceback" not in err
    assert hooked.lines("moved.txt") == ["1"]
    assert [r["status"] for r in hooked.claims()] == ["done"]
