"""`mlcd events skip`: adding `on:` to a workspace with history does not replay that history."""

from __future__ import annotations

from mlcd.events.log import DATASET_SNAPSHOT
from tests.conftest import Cli, write_partitions
from tests.events.conftest import Hooked


def test_skipped_events_never_run_their_actions(hooked: Hooked, cli: Cli) -> None:
    ws = hooked.configure({})
    src = write_partitions(ws.root / "data", ["2024-01-01"])
    ws.snapshot("sales", src)
    write_partitions(ws.root / "data", ["2024-01-02"])
    ws.snapshot("sales", src)
    ws = hooked.configure({DATASET_SNAPSHOT: "echo {subject} >> fired.txt"})

    skipped = cli("events", "skip", "--json").json()
    assert skipped == {"consumer": "default", "skipped": 2, "cursor": 2}
    assert ws.process_events() == [] and hooked.lines("fired.txt") == []
    again = cli("events", "skip")
    assert again.code == 0 and "nothing to skip" in again.out

    write_partitions(ws.root / "data", ["2024-01-03"])
    ws.snapshot("sales", src)
    assert [r.subject for r in ws.process_events()] == ["sales@3"]
    assert hooked.lines("fired.txt") == ["sales@3"]
    # another consumer has its own cursor: it acts on the history nobody acted on
    assert [r.subject for r in ws.process_events("audit")] == ["sales@1", "sales@2"]
