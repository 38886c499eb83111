"""An action that causes its own event (`run_finished: mlcd run`) stops after a few rounds."""

from __future__ import annotations

import pytest

from mlcd.events.actions import MAX_CHAIN
from mlcd.events.log import RUN_FINISHED
from tests.conftest import write_partitions
from tests.events.conftest import Hooked


@pytest.mark.slow
def test_a_self_causing_action_is_cut_at_the_chain_limit(hooked: Hooked) -> None:
    ws = hooked.configure(
        {RUN_FINISHED: ["echo {run} >> runs.txt && mlcd -q run"]},
        steps={"hello": {"run": "echo hi > hi.txt", "outputs": {"hi": "hi.txt"}}},
    )
    ws.run()  # by a person: depth 0
    results = []
    for _ in range(MAX_CHAIN + 3):  # as `mlcd watch` would: each round acts on the new events
        results += ws.process_events()
    assert [r.ok for r in results] == [True] * MAX_CHAIN + [False]
    assert "chain of events caused by actions" in (results[-1].error or "")
    events = ws.events()
    assert [e.depth for e in events] == list(range(MAX_CHAIN + 1))
    assert [e.payload["cause"]["event"] for e in events[1:]] == [e.id for e in events[:-1]]
    assert len(hooked.lines("runs.txt")) == MAX_CHAIN
    assert ws.process_events() == []  # settled: nothing runs again


def test_events_people_cause_have_depth_zero(hooked: Hooked) -> None:
    ws = hooked.configure({})
    ws.snapshot("sales", write_partitions(ws.root / "data", ["2024-01-01"]))
    (event,) = ws.events()
    assert event.depth == 0 and "cause" not in event.payload
