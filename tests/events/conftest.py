"""A workspace with `on:` actions, events to act on, and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlcd.events.log import emit
from mlcd.workspace import Workspace


@dataclass
class Hooked:
    """The `ws` workspace, re-opened after each change to its `on:` section."""

    root: Path
    opened: list[Workspace] = field(default_factory=list)

    def configure(self, on: dict[str, Any], **extra: Any) -> Workspace:
        path = self.root / "mlcd.yaml"
        config = yaml.safe_load(path.read_text())
        config.update(extra, on=on)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.ws()

    def ws(self) -> Workspace:
        workspace = Workspace(self.root)
        self.opened.append(workspace)
        return workspace

    def emit(self, type_: str, subject: str, payload: dict[str, Any], n: int = 1) -> None:
        with self.ws().db.sql(write=True) as conn:
            for _ in range(n):
                emit(conn, type_, subject, payload)

    def lines(self, name: str) -> list[str]:
        path = self.root / name
        return path.read_text().splitlines() if path.exists() else []

    def claims(self) -> list[dict[str, Any]]:
        with self.ws().db.sql() as conn:
            return conn.execute("SELECT * FROM event_actions ORDER BY event_id, action")


@pytest.fixture
def hooked(ws: Workspace) -> Iterator[Hooked]:
    h = Hooked(ws.root)
    yield h
    for opened in h.opened:
        opened.close()


@dataclass
class Receiver:
    """Every POST it got, and the statuses it answers with, per path (then 200)."""

    url: str
    script: dict[str, list[int]] = field(default_factory=dict)
    got: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path: str) -> list[Any]:
        with self.lock:
            return [body for p, _, body in self.got if p == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h, _ in self.got if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 (port 0), in a thread."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.got.append((self.path, dict(self.headers), body))
                queue = state.script.get(self.path, [])
                status = queue.pop(0) if queue else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
