"""The driver settings and the copy wait, without a server (tests/store/test_remote.py has them)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from mlcd.errors import BackendError
from mlcd.store import drivers
from mlcd.store.drivers import await_copy, s3_options
from mlcd.store.fsspec import FsspecObjectStore


def statuses(*sequence: str | None) -> tuple[list[str | None], Callable[[], str | None]]:
    """A status source that answers `sequence` in turn; the list holds what is left."""
    left = list(sequence)
    return left, lambda: left.pop(0)


def test_a_pending_copy_is_polled_until_it_succeeds() -> None:
    left, get_status = statuses("pending", "pending", "success")
    await_copy(get_status, "tmp/x to b3/ab/cd", interval=0.01)
    assert left == []


@pytest.mark.parametrize("ending", ["failed", "aborted"])
def test_a_failed_copy_is_a_backend_error(ending: str) -> None:
    left, get_status = statuses("pending", ending, "success")
    with pytest.raises(BackendError, match=f"copy of tmp/x to b3/ab/cd {ending}") as err:
        await_copy(get_status, "tmp/x to b3/ab/cd", interval=0.01)
    assert left == ["success"] and err.value.hint


def test_a_copy_pending_too_long_is_a_backend_error() -> None:
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"is still pending after 0\.1 s"):
        await_copy(lambda: "pending", "tmp/x to b3/ab/cd", timeout=0.1, interval=0.01)
    assert time.monotonic() - started < 1


def test_a_blob_that_was_no_copy_is_done() -> None:
    await_copy(lambda: None, "tmp/x to b3/ab/cd")


def test_s3_options_keep_what_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    options = s3_options({"key": "k"})
    assert options["key"] == "k"
    assert options["config_kwargs"] == {
        "connect_timeout": 10,
        "read_timeout": 10,
        "retries": {"mode": "standard"},
    }
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    chosen = s3_options({"config_kwargs": {"connect_timeout": 3}})["config_kwargs"]
    assert chosen == {"connect_timeout": 3, "read_timeout": 10, "retries": {"mode": "adaptive"}}


@pytest.mark.slow  # waits for timeouts
def test_a_hung_s3_endpoint_fails_within_the_read_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts connections and never answers (the kernel completes them; nothing
    reads): the read timeout, not botocore's 60 s times three attempts, decides."""
    monkeypatch.setattr(drivers, "READ_TIMEOUT", 1)
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
        store = FsspecObjectStore(
            "s3://bucket/store",
            key="k",
            secret="s",
            client_kwargs={"endpoint_url": endpoint},
            skip_instance_cache=True,
        )
        started = time.monotonic()
        with pytest.raises(BackendError, match="s3://bucket/store"):
            store.has("b3:" + "0" * 64)
        assert time.monotonic() - started < 15
