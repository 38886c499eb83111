"""Real servers for the backend tests, each a subprocess listening on 127.0.0.1 only.

`serve()` starts one on a free port, waits until it accepts connections and stops it on exit;
`moto_s3()` and `azurite()` are the S3 and Azure Blob servers the store tests run against.
The session fixtures in tests/store/conftest.py start each once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]

# Azurite's fixed development account: public, documented, accepted by no real Azure service.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class Server:
    """A running server: its endpoint, fsspec storage options, and the same as env variables."""

    endpoint: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} did not listen on {HOST}:{port} in {timeout} s")


@contextlib.contextmanager
def serve(command: Callable[[int], list[str]], log: Path, timeout: float = 30) -> Iterator[int]:
    """Run `command(port)` on a free port until the block ends; yields the port once it listens.

    Output goes to `log`, shown when the server fails to start.
    """
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command(port), stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(proc, port, log, timeout)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def moto_s3(workdir: Path) -> Iterator[Server]:
    """moto's standalone S3 server (the `moto[server]` dev dependency)."""
    command = [sys.executable, "-m", "moto.server", "-H", HOST]
    with serve(lambda port: [*command, "-p", str(port)], workdir / "moto.log") as port:
        endpoint = f"http://{HOST}:{port}"
        # explicit credentials: botocore never looks for others (no instance metadata service)
        yield Server(
            endpoint,
            storage_options={
                "endpoint_url": endpoint,
                "key": "testing",
                "secret": "testing",
            },
            env={
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )


AZURITE_INSTALL = [
    *("npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"),
    *("--prefix", str(ROOT / ".ci"), "azurite@3"),
]


def find_azurite() -> str | None:
    """`azurite-blob` on PATH, or where the tests install it (`npm install --prefix .ci`)."""
    return shutil.which("azurite-blob") or shutil.which(
        "azurite-blob", path=str(ROOT / ".ci" / "node_modules" / ".bin")
    )


def install_azurite() -> str | None:
    """Install Azurite with npm next to .ci/run, so that a bare `pytest` on a fresh clone runs
    the Azure tests too; None when npm is missing or fails (the caller says how to fix it)."""
    if shutil.which("npm") is None:
        return None
    done = subprocess.run(AZURITE_INSTALL, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return None
    return find_azurite()


@contextlib.contextmanager
def azurite(workdir: Path) -> Iterator[Server]:
    """Azurite's Blob service (npm), storing under `workdir`, with telemetry off."""
    skip = os.environ.get("MLCD_SKIP_AZURITE") == "1"
    exe = find_azurite() or (None if skip else install_azurite())
    if exe is None:
        message = (
            "azurite-blob is not on PATH or in .ci/node_modules, and "
            f"`{' '.join(AZURITE_INSTALL)}` could not install it (needs Node.js and npm); "
            "MLCD_SKIP_AZURITE=1 skips the Azure tests"
        )
        if skip:
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    data = workdir / "azurite"
    data.mkdir()
    command = [exe, "--blobHost", HOST, "--location", str(data), "--skipApiVersionCheck"]
    command += ["--loose", "--silent", "--disableTelemetry"]
    with serve(lambda port: [*command, "--blobPort", str(port)], workdir / "azurite.log") as port:
        endpoint = f"http://{HOST}:{port}/{AZURITE_ACCOUNT}"
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        )
        yield Server(
            endpoint,
            storage_options={"connection_string": connection},
            env={"AZURE_STORAGE_CONNECTION_STRING": connection},
        )
