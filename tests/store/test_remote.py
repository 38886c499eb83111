"""Remote stores as a user sets them up: a URL in mlcd.yaml, the endpoint and keys in env vars."""

from __future__ import annotations

import http.server
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pyarrow.parquet as pq
import pytest
from fsspec.asyn import sync

from mlcd.errors import BackendError
from mlcd.store import hash_bytes, open_store
from mlcd.store.fsspec import FsspecObjectStore
from mlcd.store.marks import find_marks
from mlcd.workspace import Workspace
from tests.conftest import write_partitions
from tests.servers import AZURITE_ACCOUNT, AZURITE_KEY, Server, free_port

pytestmark = pytest.mark.slow  # real servers

SCHEMES = {"s3": "s3_server", "az": "azurite_server"}
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.fixture(params=sorted(SCHEMES))
def remote_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket (container) URL, with the server's endpoint and keys in the environment."""
    scheme = request.param
    server: Server = request.getfixturevalue(SCHEMES[scheme])
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    bucket = f"mlcd-{uuid.uuid4().hex[:16]}"
    admin = fsspec.filesystem(scheme, skip_instance_cache=True, **server.storage_options)
    admin.mkdir(bucket)
    yield f"{scheme}://{bucket}/team/store"
    # fsspec keeps filesystems per process: none configured from this test's env outlives it
    type(admin).clear_instance_cache()


def test_open_store_reads_the_endpoint_and_keys_from_the_environment(remote_url: str) -> None:
    store = open_store(remote_url)
    assert isinstance(store, FsspecObjectStore)
    put = store.put_bytes(b"configured by env")
    assert open_store(remote_url).get_bytes(put.blob) == b"configured by env"


def test_a_workspace_on_a_remote_store(tmp_path: Path, remote_url: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    config = ws.root / "mlcd.yaml"
    config.write_text(config.read_text().replace("store: .mlcd/objects", f"store: {remote_url}"))
    ws = Workspace(ws.root)
    sales = write_partitions(tmp_path / "sales", DAYS)
    source = pq.read_table(sales)

    first = ws.snapshot("sales", sales)
    assert first.created and first.files_ingested == 3
    assert ws.store.url == remote_url and not (ws.root / ".mlcd" / "objects").exists()
    # the blobs are on the server, seen by a client that shares nothing with the workspace
    server = fsspec.filesystem(remote_url.split("://")[0], skip_instance_cache=True)
    stored = server.find(remote_url.split("://")[1] + "/b3")
    assert len(stored) == 4  # the three files and the metadata DB's mark (mlcd.store.marks)
    marks = find_marks(ws.store, ws.store.iter_blobs()).values()
    assert [m.database_id for m in marks] == [ws.db.id]

    frame = ws.load("sales@1").to_pandas()
    assert len(frame) == 300
    assert sorted(frame["date"].astype(str).unique()) == DAYS
    assert frame["amount"].sum() == pytest.approx(sum(source.column("amount").to_pylist()))
    rows = ws.load("sales@1").duckdb(duckdb.connect()).aggregate("date, count(*) AS n")
    assert sorted((str(d), n) for d, n in rows.fetchall()) == [(d, 100) for d in DAYS]

    again = Workspace(ws.root).snapshot("sales", sales)
    assert not again.created and again.version.number == first.version.number
    assert len(server.find(remote_url.split("://")[1] + "/b3")) == 4
    ws.close()


def _options(scheme: str, endpoint: str) -> dict[str, Any]:
    """Storage options for a server at `endpoint` (moto's or Azurite's keys; any server)."""
    if scheme == "s3":
        return {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    connection = f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
    connection += f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    return {"connection_string": connection}


@pytest.mark.parametrize("case", ["s3", "az", "az-wrong-key"])
def test_an_unreachable_or_refusing_store_is_a_quick_backend_error(
    request: pytest.FixtureRequest, case: str
) -> None:
    scheme = case[:2]
    if case == "az-wrong-key":  # Azurite refuses it at once
        server: Server = request.getfixturevalue("azurite_server")
        wrong = server.storage_options["connection_string"].replace(AZURITE_KEY, "A" * 86 + "==")
        options, endpoint = {"connection_string": wrong}, ""
    else:  # nothing listens there: the drivers' own defaults took 9 s (S3) and 85 s (Azure)
        endpoint = f"127.0.0.1:{free_port()}"
        options = _options(scheme, f"http://{endpoint}")
    url = f"{scheme}://mlcd-{uuid.uuid4().hex[:16]}/store"
    store = FsspecObjectStore(url, skip_instance_cache=True, **options)
    blob = hash_bytes(b"anything")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("read from", lambda: store.has(blob)),
        ("write to", lambda: store.put_bytes(b"anything")),  # the write, then its clean-up
        ("read from", lambda: store.get_bytes(blob)),
        ("list", lambda: list(store.iter_blobs())),
    ]
    if endpoint:  # each call costs the retries: two show it
        calls = calls[:2]
    for doing, action in calls:
        started = time.monotonic()
        with pytest.raises(BackendError, match=f"cannot {doing} the store at {url}: ") as err:
            action()
        assert time.monotonic() - started < 15, f"{doing}: {time.monotonic() - started:.1f} s"
        assert endpoint in err.value.message  # the one the driver was given
        assert err.value.hint is not None
        assert ("AWS_ENDPOINT_URL" if scheme == "s3" else "AZURE_STORAGE") in err.value.hint
        assert "\n" not in err.value.message


@pytest.fixture
def busy_once_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers 503 (busy) once, then 404 to everything; yields
    its endpoint and the requests it saw."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(503 if len(seen) == 1 else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
        server.shutdown()
        thread.join()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_busy_server_is_retried(busy_once_server: tuple[str, list[str]], scheme: str) -> None:
    endpoint, seen = busy_once_server
    url = f"{scheme}://mlcd-{uuid.uuid4().hex[:16]}/store"
    store = FsspecObjectStore(url, skip_instance_cache=True, **_options(scheme, endpoint))
    assert not store.has(hash_bytes(b"anything"))  # the 404 after the retry
    assert seen[0] == seen[1] and seen[0].startswith("HEAD ")


def test_an_azure_commit_waits_for_its_copy_and_leaves_no_temp(
    azurite_server: Server, tmp_path: Path
) -> None:
    container = f"mlcd-{uuid.uuid4().hex[:16]}"
    store = FsspecObjectStore(f"az://{container}/store", **azurite_server.storage_options)
    store.fs.mkdir(container)
    src = tmp_path / "big"
    src.write_bytes(os.urandom(9 * 1024 * 1024))
    staged = store.stage_file(src)
    put = store.commit(staged)
    assert put.new and store.get_bytes(put.blob) == src.read_bytes()
    assert store.fs.find(f"{store.root}/tmp") == []
    blob_client = store.fs.service_client.get_blob_client(
        container, store._key(put.blob[3:]).partition("/")[2]
    )
    props = sync(store.fs.loop, blob_client.get_blob_properties)
    assert props.copy.status == "success" and props.copy.source.endswith(staged.key.split("/")[-1])

    # a copy that cannot start (its staged upload vanished) stores nothing
    src.write_bytes(b"vanishing")
    staged = store.stage_file(src)
    store.fs.rm_file(staged.key)
    with pytest.raises(BackendError, match=f"cannot write to the store at az://{container}/"):
        store.commit(staged)
    assert not store.has(staged.blob)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_missing_bucket_is_reported_not_created(
    request: pytest.FixtureRequest, scheme: str
) -> None:
    server: Server = request.getfixturevalue(SCHEMES[scheme])
    bucket = f"mlcd-typo-{uuid.uuid4().hex[:12]}"
    store = FsspecObjectStore(f"{scheme}://{bucket}/store", **server.storage_options)
    with pytest.raises(BackendError, match=f"cannot write to the store at {scheme}://{bucket}/"):
        store.put_bytes(b"lost")
    assert not store.fs.exists(bucket)
    # listing it is no empty store either: fsck would report every blob as missing
    with pytest.raises(BackendError, match=f"bucket \\(container\\) '{bucket}' does not exist"):
        list(store.iter_blobs())


def test_gc_on_azure_keeps_a_blob_written_after_it_looked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc reads a blob's time, then deletes it; a writer reusing the blob in between makes it
    young. On Azure the delete is conditional on the time, in the same request: it keeps it."""
    server: Server = request.getfixturevalue("azurite_server")
    bucket = f"mlcd-{uuid.uuid4().hex[:16]}"
    store = FsspecObjectStore(f"az://{bucket}/store", **server.storage_options)
    store.fs.mkdir(bucket)
    blob = store.put_bytes(b"reused").blob
    looked = store.stat(blob)  # what gc saw: old enough for a cutoff after it
    time.sleep(1.1)  # the server's times are whole seconds
    before = time.time()
    time.sleep(1.1)
    assert not store.put_bytes(b"reused").new  # a writer reuses it: written again, now young
    monkeypatch.setattr(store, "stat", lambda b: looked)  # gc acts on what it read earlier
    assert store.collect(blob, before) is None and store.has(blob)
    monkeypatch.undo()
    assert store.collect(blob, time.time() + 60) is not None and not store.has(blob)
