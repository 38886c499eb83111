"""Staging a batch of files: all become blobs on commit, none when the block fails."""

from __future__ import annotations

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
