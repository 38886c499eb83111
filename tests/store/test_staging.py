"""Staging a batch of files: all become blobs on commit, none when the block fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mlcd.store import LocalObjectStore, Staged, hash_file
from mlcd.store.staging import staging


def make_files(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = tmp_path / "src" / f"f{i}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"file {i}".encode() * 1000)
        paths.append(str(path))
    return paths


def leftovers(store: LocalObjectStore) -> list[Path]:
    tmp = store.root / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_commit_publishes_every_file_in_order(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    paths = make_files(tmp_path, 20)
    seen: list[int] = []
    with staging(store, paths, 4, lambda i, s: seen.append(i)) as batch:
        puts = batch.commit()
    assert [p.blob for p in puts] == [hash_file(p) for p in paths]
    assert sorted(seen) == list(range(20)) and leftovers(store) == []


@pytest.mark.parametrize("failure", [RuntimeError("refused"), KeyboardInterrupt()])
def test_a_failing_block_stores_nothing(tmp_path: Path, failure: BaseException) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    paths = make_files(tmp_path, 20)
    with pytest.raises(type(failure)), staging(store, paths, 4) as batch:
        batch.wait()
        raise failure
    assert list(store.iter_blobs()) == [] and leftovers(store) == []


def test_a_failing_check_stores_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    paths = make_files(tmp_path, 20)

    def check(index: int, staged: Staged) -> None:
        if index == 7:
            raise ValueError(f"file {index} changed")

    with pytest.raises(ValueError, match="file 7 changed"), staging(store, paths, 4, check) as b:
        b.commit()
    assert list(store.iter_blobs()) == [] and leftovers(store) == []


def test_a_missing_source_file_stores_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    paths = [*make_files(tmp_path, 5), str(tmp_path / "gone")]
    with pytest.raises(FileNotFoundError), staging(store, paths, 2) as batch:
        batch.commit()
    assert list(store.iter_blobs()) == [] and leftovers(store) == []


def test_leaving_without_commit_discards(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    with staging(store, make_files(tmp_path, 3), 2) as batch:
        batch.wait()
    assert list(store.iter_blobs()) == [] and leftovers(store) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_a_second_user_stores_content_another_user_stored(tmp_path: Path) -> None:
    """A shared local store: blobs are read-only and owned by whoever stored them first, so
    the second user cannot touch their time; replacing them with the same bytes works."""
    shared = Path(tempfile.mkdtemp(prefix="mlcd-shared-"))  # outside pytest's 0700 folders
    try:
        src = shared / "data.bin"
        src.write_bytes(b"the same bytes" * 1000)
        first = LocalObjectStore(shared / "objects").put_file(src)
        for folder in [shared, *(p for p in shared.rglob("*") if p.is_dir())]:
            folder.chmod(0o777)
        # A forked child turns into the other user: it needs no import from the (possibly
        # unreadable to that user) virtual environment, as every module is loaded already.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            status = 1
            try:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                put = LocalObjectStore(shared / "objects").put_file(src)
                os.write(write, f"{put.blob} {put.new}".encode())
                status = 0
            except BaseException as error:  # reported to the parent
                os.write(write, f"error {error!r}".encode())
            finally:
                os._exit(status)
        os.close(write)
        with os.fdopen(read) as pipe:
            said = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, said
        assert said.split() == [first.blob, "False"]
        store = LocalObjectStore(shared / "objects")
        assert store.get_bytes(first.blob) == src.read_bytes() and leftovers(store) == []
    finally:
        shutil.rmtree(shared)


def test_an_abandoned_batch_stops_a_long_copy_at_once(tmp_path: Path) -> None:
    """Ctrl-C while a large file is copied: the copy stops within a chunk, leaving nothing."""
    store = LocalObjectStore(tmp_path / "objects")
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)
    feeding = threading.Event()

    def feed() -> None:  # a file that takes 10 s to read
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as out:
            for _ in range(200):
                out.write(b"x" * (1 << 20))
                out.flush()
                feeding.set()
                time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), staging(store, [str(fifo)], 1):
        assert feeding.wait(10)
        raise KeyboardInterrupt
    assert time.monotonic() - started < 3, "the copy was waited for, not stopped"
    assert list(store.iter_blobs()) == [] and leftovers(store) == []
    feeder.join(10)
