"""One contract for every ObjectStore backend: the same tests run against each of them."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mlcd.errors import IntegrityError, InvalidNameError, NotFoundError
from mlcd.store import LocalObjectStore, ObjectStore, Staged, hash_bytes, hash_file, open_store
from mlcd.store.fsspec import FsspecObjectStore
from mlcd.store.memory import MemoryObjectStore
from tests.servers import Server

Factory = Callable[[pytest.FixtureRequest, Path], ObjectStore]


def remote(scheme: str, server_fixture: str) -> Factory:
    """A store in a fresh bucket (container) of a real server started once per session."""

    def make(request: pytest.FixtureRequest, tmp: Path) -> ObjectStore:
        server: Server = request.getfixturevalue(server_fixture)
        bucket = f"mlcd-{uuid.uuid4().hex[:16]}"
        store = FsspecObjectStore(f"{scheme}://{bucket}/objects", **server.storage_options)
        store.fs.mkdir(bucket)
        return store

    return make


BACKENDS: dict[str, Factory] = {
    "local": lambda request, tmp: LocalObjectStore(tmp / "objects"),
    "memory": lambda request, tmp: MemoryObjectStore(),
    "fsspec-file": lambda request, tmp: FsspecObjectStore(f"file://{tmp}/objects"),
    "fsspec-memory": lambda request, tmp: FsspecObjectStore(f"memory://mlcd-{uuid.uuid4().hex}"),
    "s3": remote("s3", "s3_server"),  # moto's S3 server
    "azure": remote("az", "azurite_server"),  # Azurite's Blob service
}
SERVED = {"s3", "azure"}  # they start a server: `slow`, as the project defines it


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.slow] if name in SERVED else [])
        for name in sorted(BACKENDS)
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    return BACKENDS[request.param](request, tmp_path)


def test_put_file_returns_the_blake3_address(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks and a ragged tail
    put = store.put_file(src)
    assert put.blob == hash_file(src) == hash_bytes(src.read_bytes())
    assert put.size == src.stat().st_size and put.new
    assert store.has(put.blob)
    assert store.get_bytes(put.blob) == src.read_bytes()


def test_identical_content_is_stored_once(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"same")
    (tmp_path / "y").write_bytes(b"same")
    first, second = store.put_file(tmp_path / "x"), store.put_file(tmp_path / "y")
    assert first.blob == second.blob and first.new and not second.new
    assert list(store.iter_blobs()) == [first.blob]


def test_put_bytes_and_get_file(store: ObjectStore, tmp_path: Path) -> None:
    put = store.put_bytes(b"hello")
    dest = tmp_path / "out" / "copy.txt"
    store.get_file(put.blob, dest)
    assert dest.read_bytes() == b"hello"
    with store.open(put.blob) as f:
        assert f.read() == b"hello"


def test_missing_blob_is_not_found(store: ObjectStore, tmp_path: Path) -> None:
    absent = hash_bytes(b"never stored")
    assert not store.has(absent)
    with pytest.raises(NotFoundError, match="not in the store"):
        store.get_bytes(absent)
    with pytest.raises(NotFoundError):
        store.get_file(absent, tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("bad", ["", "b3:../../etc/passwd", "md5:abc", "b3:" + "g" * 64])
def test_malformed_ids_never_become_paths(store: ObjectStore, bad: str) -> None:
    with pytest.raises(InvalidNameError):
        store.has(bad)


def test_empty_file(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    put = store.put_file(tmp_path / "empty")
    assert put.size == 0 and store.get_bytes(put.blob) == b""


def _damage(store: ObjectStore, blob: str) -> None:
    if isinstance(store, MemoryObjectStore):
        store.corrupt(blob)
    elif isinstance(store, LocalObjectStore):
        path = store.path_of(blob)
        path.chmod(0o644)
        path.write_bytes(b"bit rot")
    else:
        assert isinstance(store, FsspecObjectStore)
        store.fs.pipe_file(store._key(blob[3:]), b"bit rot")


def _delete_elsewhere(store: ObjectStore, blob: str) -> None:
    """Delete a blob as another process would: behind the back of `store`'s caches."""
    if isinstance(store, MemoryObjectStore):
        del store.blobs[blob]
    elif isinstance(store, LocalObjectStore):
        store.path_of(blob).unlink()
    else:
        assert isinstance(store, FsspecObjectStore)
        other = type(store.fs)(skip_instance_cache=True, **store.fs.storage_options)
        other.rm_file(store._key(blob[3:]))


def _temp_files(store: ObjectStore) -> list[str]:
    if isinstance(store, MemoryObjectStore):
        return list(store.staged)
    if isinstance(store, LocalObjectStore):
        tmp = store.root / "tmp"
        return [p.name for p in tmp.iterdir()] if tmp.exists() else []
    assert isinstance(store, FsspecObjectStore)
    return list(store.fs.find(f"{store.root}/tmp"))


def test_corrupt_blob_is_reported_by_name(store: ObjectStore, tmp_path: Path) -> None:
    put = store.put_bytes(b"precious")
    _damage(store, put.blob)
    with pytest.raises(IntegrityError, match=put.blob):
        store.get_bytes(put.blob)
    with pytest.raises(IntegrityError):
        store.get_file(put.blob, tmp_path / "restored")
    assert not (tmp_path / "restored").exists(), "a corrupt blob must not be written out"


def test_concurrent_puts_of_the_same_content(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.write_bytes(os.urandom(2 * 1024 * 1024))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(store.put_file(src))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.blob for r in results} == {hash_file(src)}
    assert store.get_bytes(hash_file(src)) == src.read_bytes()


def test_local_store_leaves_no_temp_files_and_blobs_are_read_only(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (tmp_path / "f").write_bytes(b"data")
    put = store.put_file(tmp_path / "f")
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    path = store.path_of(put.blob)
    assert path.relative_to(tmp_path / "objects").parts[:2] == ("b3", put.blob[3:5])
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert oct(path.stat().st_mode & 0o777) == oct(0o444)


def test_failed_put_leaves_nothing(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes(b"first")  # the temporary area exists
    with pytest.raises(FileNotFoundError):  # the caller's mistake, not the store's failure
        store.put_file(tmp_path / "does-not-exist")
    assert list(store.iter_blobs()) == [hash_bytes(b"first")]
    assert _temp_files(store) == []


def test_a_blob_deleted_elsewhere_is_missing(store: ObjectStore) -> None:
    kept, gone = store.put_bytes(b"kept").blob, store.put_bytes(b"gone").blob
    assert sorted(store.iter_blobs()) == sorted([kept, gone])  # the store has listed them
    _delete_elsewhere(store, gone)
    assert store.has(kept) and not store.has(gone)
    assert store.missing([kept, gone]) == {gone}
    with pytest.raises(NotFoundError):
        store.get_bytes(gone)
    assert store.put_bytes(b"gone").new, "stored again, not deduplicated against a ghost"
    assert store.get_bytes(gone) == b"gone"


def test_stray_files_are_not_blobs(store: ObjectStore) -> None:
    if isinstance(store, MemoryObjectStore):
        pytest.skip("a dict holds nothing but blobs")
    put = store.put_bytes(b"blob")
    hexdigest = put.blob[3:]
    for stray in ["b3/notes.txt", f"b3/{hexdigest[:2]}/.DS_Store", f"b3/{hexdigest[:2]}/x/y"]:
        if isinstance(store, LocalObjectStore):
            (store.root / stray).parent.mkdir(parents=True, exist_ok=True)
            (store.root / stray).write_bytes(b"not a blob")
        else:
            assert isinstance(store, FsspecObjectStore)
            store.fs.makedirs(f"{store.root}/{stray}".rsplit("/", 1)[0], exist_ok=True)
            store.fs.pipe_file(f"{store.root}/{stray}", b"not a blob")
    assert list(store.iter_blobs()) == [put.blob]


def test_open_store_picks_the_backend_by_url(tmp_path: Path) -> None:
    assert isinstance(open_store(".mlcd/objects", base=tmp_path), LocalObjectStore)
    assert isinstance(open_store(f"file://{tmp_path}/o"), LocalObjectStore)
    assert isinstance(open_store("memory://bucket/prefix"), FsspecObjectStore)


def test_staged_files_are_blobs_only_once_committed(store: ObjectStore, tmp_path: Path) -> None:
    files = []
    for i, content in enumerate([b"one", b"two", b"one"]):
        files.append(tmp_path / f"f{i}")
        files[-1].write_bytes(content)
    staged = [store.stage_file(f) for f in files]
    assert [s.blob for s in staged] == [hash_file(f) for f in files]
    assert list(store.iter_blobs()) == [] and not store.has(staged[0].blob)
    puts = store.commit_all(staged)
    assert [p.blob for p in puts] == [s.blob for s in staged]
    assert [p.new for p in puts] == [True, True, False]  # the third is deduplicated
    assert store.get_bytes(puts[1].blob) == b"two"
    assert sorted(store.iter_blobs()) == sorted({s.blob for s in staged})
    assert _temp_files(store) == []


def test_discarded_files_leave_nothing(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"refused")
    staged = store.stage_file(tmp_path / "f")
    store.discard(staged)
    store.discard(staged)  # twice is harmless
    assert list(store.iter_blobs()) == [] and _temp_files(store) == []
    assert store.put_file(tmp_path / "f").new  # and it can be stored later


def test_stat_and_delete(store: ObjectStore, tmp_path: Path) -> None:
    started = time.time()
    put = store.put_bytes(b"12345")
    stat = store.stat(put.blob)
    assert stat.size == 5 and started - 5 <= stat.modified <= time.time() + 5
    store.delete(put.blob)
    assert not store.has(put.blob) and list(store.iter_blobs()) == []
    store.delete(put.blob)  # already gone: no error
    with pytest.raises(NotFoundError, match=put.blob):
        store.stat(put.blob)
    assert store.put_bytes(b"12345").new  # and it can be stored again


def test_collect_deletes_old_blobs_and_keeps_young_ones(store: ObjectStore) -> None:
    put = store.put_bytes(b"garbage")
    assert store.collect(put.blob, before=time.time() - 3600) is None  # young: kept
    assert store.has(put.blob)
    stat = store.collect(put.blob, before=time.time() + 60)
    assert stat is not None and stat.size == len(b"garbage")
    assert not store.has(put.blob) and list(store.iter_blobs()) == []
    assert store.collect(put.blob, before=time.time() + 60) is None  # gone: no error
    assert store.put_bytes(b"garbage").new


def test_a_blob_reused_while_gc_collects_it_stays_stored(tmp_path: Path) -> None:
    """A writer storing content gc is deleting at that moment: whichever comes first, the blob
    the writer was told is stored is there afterwards (stat-then-delete lost it at times)."""
    store = LocalObjectStore(tmp_path / "objects")
    src = tmp_path / "reused"
    src.write_bytes(b"content an old version left behind" * 100)
    blob = store.put_file(src).blob
    path = store.path_of(blob)
    lost = 0
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: the two steps interleave
    try:
        for i in range(1000):
            if not path.exists():
                store.put_file(src)
            os.utime(path, (1, 1))  # old: gc's to collect, unless a writer reuses it first
            staged = store.stage_file(src)
            start = threading.Barrier(2)

            def write(start: threading.Barrier = start, staged: Staged = staged) -> None:
                start.wait()
                store.commit(staged)

            writer = threading.Thread(target=write)
            writer.start()
            start.wait()
            time.sleep((i % 50) * 2e-6)  # the writer arrives at a different moment each time
            store.collect(blob, before=time.time() - 1)
            writer.join()
            lost += not store.has(blob)
    finally:
        sys.setswitchinterval(switching)
    assert lost == 0
    assert list((store.root / "tmp").iterdir()) == []


def test_clean_temp_removes_only_old_leftovers(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"left behind by a crashed writer")
    staged = store.stage_file(tmp_path / "f")
    assert store.clean_temp(before=time.time() - 3600) == 0  # young: maybe still in use
    assert store.clean_temp(before=time.time() + 60) == 1
    assert store.clean_temp(before=time.time() + 60) == 0
    store.discard(staged)  # its owner giving up later is no error
    assert list(store.iter_blobs()) == []


def test_storing_existing_content_again_makes_it_young(store: ObjectStore, tmp_path: Path) -> None:
    """A blob a new version uses again must not look like old garbage to `mlcd gc`."""
    first = store.stat(store.put_bytes(b"reused").blob).modified
    coarse = isinstance(store, FsspecObjectStore) and not store._folders  # 1 s on S3
    time.sleep(1.1 if coarse else 0.05)
    (tmp_path / "again").write_bytes(b"reused")
    for put in (store.put_bytes(b"reused"), store.put_file(tmp_path / "again")):
        assert not put.new and store.stat(put.blob).modified > first


def test_a_mark_that_could_not_be_stored_is_tried_again(tmp_path: Path) -> None:
    """The owner DB's mark comes before any data; if storing it fails, so does the write, and
    the next write stores it (a write without a mark would look like garbage to other DBs)."""
    from mlcd.store.marks import Mark, find_marks

    calls = []

    def owner() -> Mark:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the metadata DB is not reachable")
        return Mark("0" * 32, {"workspace": "/w"})

    store = open_store(str(tmp_path / "objects"), owner=owner)
    with pytest.raises(OSError, match="not reachable"):
        store.put_bytes(b"data")
    assert list(store.iter_blobs()) == []
    data = store.put_bytes(b"data").blob
    (mark,) = find_marks(store, store.iter_blobs()).values()
    assert mark == Mark("0" * 32, {"workspace": "/w"}) and store.has(data)
    store.put_bytes(b"more")
    assert len(calls) == 2  # marked once for good


def test_a_new_blob_is_young_when_published_not_when_staged(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A long snapshot commits its first copies long after staging them: gc's grace must count
    from the commit, or it could collect them before the version row is written."""
    (tmp_path / "f").write_bytes(b"staged an hour ago")
    staged = store.stage_file(tmp_path / "f")
    if isinstance(store, LocalObjectStore):
        os.utime(staged.key, (1, 1))
    committed = time.time()
    put = store.commit(staged)
    assert store.stat(put.blob).modified >= committed - 2


def test_clean_temp_leaves_files_mlcd_did_not_write(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (store.root / "tmp").mkdir(parents=True)
    notes = store.root / "tmp" / "notes.txt"
    notes.write_text("the user's")
    os.utime(notes, (1, 1))
    assert store.clean_temp(before=time.time() + 60) == 0 and notes.exists()
