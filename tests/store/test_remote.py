"""Remote stores as a user sets them up: a URL in mlcd.yaml, the endpoint and keys in env vars."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pyarrow.parquet as pq
import pytest

from mlcd.errors import BackendError
from mlcd.store import hash_bytes, open_store
from mlcd.store.fsspec import FsspecObjectStore
from mlcd.workspace import Workspace
from tests.conftest import write_partitions
from tests.servers import AZURITE_KEY, Server, free_port

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
    assert len(stored) == 3

    frame = ws.load("sales@1").to_pandas()
    assert len(frame) == 300
    assert sorted(frame["date"].astype(str).unique()) == DAYS
    assert frame["amount"].sum() == pytest.approx(sum(source.column("amount").to_pylist()))
    rows = ws.load("sales@1").duckdb(duckdb.connect()).aggregate("date, count(*) AS n")
    assert sorted((str(d), n) for d, n in rows.fetchall()) == [(d, 100) for d in DAYS]

    again = Workspace(ws.root).snapshot("sales", sales)
    assert not again.created and again.version.number == first.version.number
    assert len(server.find(remote_url.split("://")[1] + "/b3")) == 3
    ws.close()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_an_unreachable_or_refusing_store_is_a_backend_error(
    request: pytest.FixtureRequest, scheme: str
) -> None:
    options: dict[str, Any]
    if scheme == "s3":  # nothing listens there; one attempt each, not botocore's retries
        options = {
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
            "key": "testing",
            "secret": "testing",
            "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 1}},
        }
    else:  # Azurite refuses a wrong key at once (a dead port costs azure-core 80 s of retries)
        server: Server = request.getfixturevalue("azurite_server")
        wrong = server.storage_options["connection_string"].replace(AZURITE_KEY, "A" * 86 + "==")
        options = {"connection_string": wrong}
    url = f"{scheme}://mlcd-{uuid.uuid4().hex[:16]}/store"
    store = FsspecObjectStore(url, skip_instance_cache=True, **options)
    if scheme == "s3":
        store.fs.retries = 1  # and s3fs's own, with back-off: 5 s -> 0.1 s
    blob = hash_bytes(b"anything")
    calls: dict[str, list[Callable[[], object]]] = {
        "read from": [lambda: store.has(blob), lambda: store.get_bytes(blob)],
        "write to": [lambda: store.put_bytes(b"anything")],
        "list": [lambda: list(store.iter_blobs())],
    }
    for doing, actions in calls.items():
        for action in actions:
            with pytest.raises(BackendError, match=f"cannot {doing} the store at {url}: ") as err:
                action()
            assert err.value.hint is not None
            assert ("AWS_ENDPOINT_URL" if scheme == "s3" else "AZURE_STORAGE") in err.value.hint
            assert "\n" not in err.value.message


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
