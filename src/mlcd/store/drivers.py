"""What the fsspec store changes in the S3 and Azure drivers: quick failure, awaited copies.

Both drivers are tuned for servers that retry for minutes; a command-line tool must say within
seconds that an endpoint is unreachable, yet still ride out a brief throttle or dropped
connection. And adlfs starts Azure's server-side copies without waiting for them to finish.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from mlcd.errors import BackendError

S3_SCHEMES = {"s3", "s3a"}
AZURE_SCHEMES = {"az", "abfs", "abfss"}

# A TCP connect that takes longer means an unreachable endpoint (botocore waits 60 s, Azure 20)
CONNECT_TIMEOUT = 10
# A server that accepted the connection and sends nothing for this long is hung (botocore
# waits 60 s, and retries: ~4 minutes before an error); it is per read, not per download
READ_TIMEOUT = 10
COPY_TIMEOUT = 600.0  # s: a bound, not an estimate: a large blob's copy may take minutes


def s3_options(storage_options: dict[str, Any]) -> dict[str, Any]:
    """`storage_options` with botocore's "standard" retries (3 attempts, backing off ~1 s, for
    throttling, 5xx and connection errors) instead of "legacy" (5, ~8 s), a 10 s connect
    timeout and a 10 s read timeout. AWS_RETRY_MODE, AWS_MAX_ATTEMPTS and explicit
    `config_kwargs` still win."""
    config = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "retries": {"mode": os.environ.get("AWS_RETRY_MODE", "standard")},
    }
    chosen = storage_options.get("config_kwargs") or {}
    return {**storage_options, "config_kwargs": config | chosen}


def tune_s3(fs: Any) -> None:
    """s3fs tries a timed-out call 5 times, each with botocore's attempts: a hung endpoint
    took minutes. Once here: botocore's retries are the only ones."""
    fs.retries = 1


def tune_azure(fs: Any) -> None:
    """Give an adlfs file system's Azure client short back-offs (2, 4, 8 s ± 1 between its three
    retries of throttling and 5xx, not 18, 24, 42), one retry of a refused or timed-out connection
    instead of three, and a 10 s connect timeout: a dead endpoint fails in ~2 s, not ~85."""
    # adlfs passes no options to the client it makes (fsspec/adlfs#502), so the client's own
    # policy is changed in place; should an SDK release move these attributes, the defaults stay
    with contextlib.suppress(AttributeError):
        config = fs.service_client._config
        policy = config.retry_policy
        policy.initial_backoff, policy.increment_base, policy.random_jitter_range = 0, 2, 1
        policy.connect_retries = 1
        config.transport.connection_config.timeout = CONNECT_TIMEOUT


def await_copy(
    get_status: Callable[[], str | None],
    what: str,
    timeout: float = COPY_TIMEOUT,
    interval: float = 0.2,
) -> None:
    """Poll a server-side copy's status until it is no longer "pending".

    Raises BackendError if it ends "failed" or "aborted", or is still pending after `timeout`
    seconds. None (a blob that was never a copy's destination, or rewritten since) is done.
    """
    deadline = time.monotonic() + timeout
    status = get_status()
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(interval)
        interval = min(interval * 2, 5.0)
        status = get_status()
    if status in ("success", None):
        return
    ended = f"is still pending after {timeout:g} s" if status == "pending" else status
    raise BackendError(
        f"the server-side copy of {what} {ended}",
        hint="nothing was stored under that name; run the command again",
    )


def copy_azure_blob(fs: Any, src: str, dst: str) -> None:
    """adlfs's `cp_file`, but waiting until the copy is done: its source is deleted next.

    A copy that fails leaves its destination empty or short, so it is deleted: a blob that
    is missing is stored again by the next put, one that is short would be trusted.
    """
    from fsspec.asyn import sync

    def client(path: str) -> Any:
        container, blob, _ = fs.split_path(path)
        return fs.service_client.get_blob_client(container, blob)

    source, target = client(src), client(dst)
    started = sync(fs.loop, target.start_copy_from_url, source.url)
    statuses: list[str | None] = [started.get("copy_status")]  # small blobs: "success" already

    def status() -> str | None:
        if not statuses:
            statuses.append(sync(fs.loop, target.get_blob_properties).copy.status)
        return statuses.pop()

    try:
        await_copy(status, f"{src} to {dst}")
    except BackendError:
        with contextlib.suppress(Exception):  # fails unless still pending
            sync(fs.loop, target.abort_copy, started["copy_id"])
        with contextlib.suppress(Exception):
            sync(fs.loop, target.delete_blob)
        raise


def delete_azure_blob_unless_modified(fs: Any, path: str, since: float) -> bool:
    """Delete a blob only if the server has not written it after `since` (POSIX seconds),
    in one request: a writer that reuses it meanwhile keeps it. False when it was kept."""
    from datetime import UTC, datetime

    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
    from fsspec.asyn import sync

    container, blob, _ = fs.split_path(path)
    client = fs.service_client.get_blob_client(container, blob)
    try:
        sync(fs.loop, client.delete_blob, if_unmodified_since=datetime.fromtimestamp(since, UTC))
    except ResourceModifiedError:  # 412: written since
        return False
    except ResourceNotFoundError:  # removed meanwhile by another gc
        return False
    return True
