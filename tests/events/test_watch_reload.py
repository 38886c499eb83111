"""`mlcd watch` re-reads mlcd.yaml: an edited `on:` takes effect without a restart, and a
malformed edit keeps the last good one in force."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from mlcd.errors import ConfigError
from mlcd.events.log import DATASET_SNAPSHOT
from mlcd.workspace import Workspace
from tests.conftest import write_partitions
from tests.events.conftest import Hooked, wait_for


@contextlib.contextmanager
def watching(ws: Workspace) -> Iterator[list[ConfigError]]:
    """`ws.watch` in a thread for the block; yields the config errors it reports."""
    stop = threading.Event()
    errors: list[ConfigError] = []
    watcher = threading.Thread(
        target=ws.watch, args=(0.05,), kwargs={"stop": stop, "on_config_error": errors.append}
    )
    watcher.start()
    try:
        yield errors
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


def test_watch_follows_edits_of_on(hooked: Hooked) -> None:
    ws = hooked.configure({})
    with watching(ws) as errors:
        src = write_partitions(ws.root / "data", ["2024-01-01"])
        hooked.configure({DATASET_SNAPSHOT: "echo {subject} >> fired.txt"})
        hooked.ws().snapshot("sales", src)
        wait_for(lambda: hooked.lines("fired.txt") == ["sales@1"])

        writer = hooked.ws()  # opened while mlcd.yaml is valid
        config = ws.root / "mlcd.yaml"
        config.write_text(config.read_text() + "\nunknown_key: 1\n")  # a half-done edit
        # (watch may also catch the file half-written: that is reported and survived too)
        wait_for(lambda: any("unknown_key" in e.message for e in errors))
        write_partitions(ws.root / "data", ["2024-01-02"])
        writer.snapshot("sales", src)
        wait_for(lambda: hooked.lines("fired.txt") == ["sales@1", "sales@2"])


def test_watch_keeps_the_last_good_on_when_an_event_type_is_unknown(hooked: Hooked) -> None:
    ws = hooked.configure({DATASET_SNAPSHOT: "echo {subject} >> fired.txt"})
    writer = hooked.ws()
    with watching(ws) as errors:
        hooked.configure({"dataset_snapshott": "echo typo"})  # loads, but names no event type
        wait_for(lambda: any("dataset_snapshott" in e.message for e in errors))
        writer.snapshot("sales", write_partitions(ws.root / "data", ["2024-01-01"]))
        wait_for(lambda: hooked.lines("fired.txt") == ["sales@1"])
