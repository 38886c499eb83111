"""Readers on damaged stores, odd column selections and hostile partition filters."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import mlcd
from mlcd.data import verification
from mlcd.data.manifest import FileEntry
from mlcd.data.reader import DatasetReader
from mlcd.errors import (
    BackendError,
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    QueryError,
)
from mlcd.workspace import Workspace
from tests.conftest import Cli, write_partitions


@pytest.fixture
def snap(ws: Workspace, sales: Path) -> Workspace:
    ws.snapshot("sales", sales)
    return ws


def blob_path(ws: Workspace, f: FileEntry) -> Path:
    path: Path = ws.store.path_of(f.blob)  # type: ignore[attr-defined]
    return path


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def flip_a_byte(path: Path) -> None:
    """Damage a blob in place, keeping its size: only hashing can tell."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    overwrite(path, bytes(data))


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths (in the version) of the blobs each load hashes; appended as they are."""
    seen: list[str] = []
    real = verification._hash

    def counting(ref: str, f: FileEntry, path: str, url: str) -> verification.Stat | None:
        seen.append(f.path)
        return real(ref, f, path, url)

    monkeypatch.setattr(verification, "_hash", counting)
    return seen


# -- 1. blobs are verified before they are read in place ---------------------------------------


def test_a_corrupt_csv_blob_is_refused_not_read(ws: Workspace) -> None:
    (ws.root / "c").mkdir()
    (ws.root / "c" / "f.csv").write_text("a\n1\n2\n")
    ws.snapshot("cc", ws.root / "c")
    f = ws.version("cc@1", with_files=True).files[0]
    overwrite(blob_path(ws, f), b"a\n9\n2\n")  # same size, other values
    with pytest.raises(IntegrityError, match=f"cc@1: f.csv: blob {f.blob} is corrupt"):
        mlcd.load("cc@1").to_pandas()
    with pytest.raises(IntegrityError, match=re.escape("cc@1: f.csv")):
        mlcd.load("cc@1").duckdb().fetchall()


@pytest.mark.parametrize(
    "read",
    [lambda r: r.to_arrow(), lambda r: r.to_pandas(), lambda r: r.duckdb().fetchall()],
    ids=["arrow", "pandas", "duckdb"],
)
def test_a_damaged_parquet_blob_names_the_file(
    snap: Workspace, read: Callable[[DatasetReader], object]
) -> None:
    f = snap.version("sales@1", with_files=True).files[1]
    flip_a_byte(blob_path(snap, f))
    with pytest.raises(IntegrityError, match=f"sales@1: {f.path}: blob {f.blob} is corrupt"):
        read(snap.load("sales@1"))
    # a partition filter that leaves the damaged file out reads the others
    assert snap.load("sales@1", partitions="date <> '2024-01-02'").to_arrow().num_rows == 200


def test_a_verified_blob_is_only_stated_until_its_stat_changes(
    snap: Workspace, hashes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification, "RACY_NS", 0)  # the blobs were written just now
    assert snap.load("sales@1").to_arrow().num_rows == 300
    assert len(hashes) == 3
    assert snap.load("sales@1").to_arrow().num_rows == 300
    assert snap.load("sales@1", columns=["amount"]).duckdb().fetchall()
    assert len(hashes) == 3  # remembered in .mlcd/cache/verified.db: no re-hash
    assert (snap.state / "cache" / "verified.db").is_file()

    f = snap.version("sales@1", with_files=True).files[2]
    flip_a_byte(blob_path(snap, f))  # a new ctime (and mtime): hashed again
    with pytest.raises(IntegrityError, match=f.path):
        snap.load("sales@1").to_arrow()
    assert hashes[3:] == [f.path]


def test_a_blob_changed_just_before_hashing_is_hashed_again(
    snap: Workspace, hashes: list[str]
) -> None:
    """A stat younger than 2 s is not remembered: a write in the same clock tick could keep it."""
    snap.load("sales@1").to_arrow()
    snap.load("sales@1").to_arrow()
    assert len(hashes) == 6


def test_a_missing_blob_is_not_found_by_every_reader(snap: Workspace) -> None:
    f = snap.version("sales@1", with_files=True).files[0]
    blob_path(snap, f).unlink()
    for verify in (True, False):
        with pytest.raises(NotFoundError, match=f"sales@1: {f.path}: blob {f.blob} is not in"):
            mlcd.load("sales@1", verify=verify).duckdb().fetchall()
        with pytest.raises(NotFoundError, match=f.path):
            mlcd.load("sales@1", verify=verify).to_pandas()


def test_a_truncated_blob_is_refused_even_unverified(snap: Workspace) -> None:
    f = snap.version("sales@1", with_files=True).files[0]
    path = blob_path(snap, f)
    overwrite(path, path.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match=f"{f.path}: blob {f.blob} is corrupt: it holds"):
        snap.load("sales@1", verify=False).to_arrow()


def test_verify_false_trusts_the_store(ws: Workspace, hashes: list[str]) -> None:
    (ws.root / "c").mkdir()
    (ws.root / "c" / "f.csv").write_text("a\n1\n2\n")
    ws.snapshot("cc", ws.root / "c")
    overwrite(blob_path(ws, ws.version("cc@1", with_files=True).files[0]), b"a\n9\n2\n")
    assert ws.load("cc@1", verify=False).to_pandas()["a"].tolist() == [9, 2]
    assert hashes == []


def test_an_index_that_cannot_be_opened_still_verifies(
    snap: Workspace, hashes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only or broken `.mlcd/cache` costs a re-hash per read, never an unchecked read."""
    monkeypatch.setattr(verification, "RACY_NS", 0)
    (snap.state / "cache" / "verified.db").mkdir(parents=True)  # sqlite cannot open a folder
    assert snap.load("sales@1").to_arrow().num_rows == 300
    assert snap.load("sales@1").to_arrow().num_rows == 300
    assert len(hashes) == 6
    f = snap.version("sales@1", with_files=True).files[0]
    flip_a_byte(blob_path(snap, f))
    with pytest.raises(IntegrityError, match=f.path):
        snap.load("sales@1").to_arrow()


def test_a_remote_blob_is_checked_by_size(ws: Workspace, sales: Path) -> None:
    """A remote store is not hashed (that would download every blob twice): a missing or
    truncated blob is still named."""
    from mlcd.store.fsspec import FsspecObjectStore

    config = ws.root / "mlcd.yaml"
    url = f"memory://mlcd-{uuid.uuid4().hex}/store"
    config.write_text(config.read_text().replace("store: .mlcd/objects", f"store: {url}"))
    ws = Workspace(ws.root)
    ws.snapshot("sales", sales)
    store = ws.store
    assert isinstance(store, FsspecObjectStore)
    first, second = ws.version("sales@1", with_files=True).files[:2]
    assert ws.load("sales@1").to_arrow().num_rows == 300

    key = store._key(first.blob[3:])
    store.fs.pipe_file(key, store.fs.cat_file(key)[:-1])
    with pytest.raises(IntegrityError, match=f"sales@1: {first.path}: .* holds"):
        ws.load("sales@1").to_arrow()
    store.fs.rm_file(store._key(second.blob[3:]))
    with pytest.raises(NotFoundError, match=f"sales@1: {second.path}: blob {second.blob}"):
        ws.load("sales@1", partitions="date = '2024-01-02'").duckdb()


# -- 2. column selections ----------------------------------------------------------------------


def test_a_single_column_name_is_one_column(snap: Workspace) -> None:
    assert snap.load("sales@1", columns="date").to_arrow().column_names == ["date"]
    assert snap.load("sales@1", columns="amount").to_pandas().shape == (300, 1)
    assert mlcd.load("sales@1", columns="items").duckdb().columns == ["items"]
    with pytest.raises(NotFoundError, match="no column 'dates'"):
        snap.load("sales@1", columns="dates")


def test_an_empty_column_list_is_refused_by_every_reader(snap: Workspace) -> None:
    for columns in ([], ()):
        with pytest.raises(InvalidNameError, match="empty column list") as exc:
            snap.load("sales@1", columns=columns)
        assert "amount, items, channel, date" in (exc.value.hint or "")


# -- 3. the partition filter is one condition over the partition keys --------------------------


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("date = '2024-01-01'; SELECT 1", "holds a ';'"),
        ("date = '2024-01-01';", 'syntax error at or near ";"'),
        ("_i = 0", 'column "_i" not found'),
        ("_file = 0", 'column "_file" not found'),
        ("amount > 0.5", 'column "amount" not found'),  # a data column, not a key
        ("date IN (SELECT date FROM partitions)", "holds a subquery"),
        ("(SELECT count(*) FROM read_csv('/etc/passwd')) > 0", "holds a subquery"),
        ("EXISTS (SELECT 1)", "holds a subquery"),
        ("date = '2024-01-01') OR (true", "syntax error"),
        ("count(*) > 0", "cannot contain aggregates"),
    ],
)
def test_a_filter_that_is_not_one_condition_over_the_keys_is_refused(
    snap: Workspace, condition: str, reason: str
) -> None:
    with pytest.raises(QueryError, match=re.escape(reason)) as exc:
        snap.load("sales@1", partitions=condition)
    assert exc.value.message.startswith(f"partition filter {condition!r}")
    assert exc.value.hint == "write one SQL condition over date"


def test_quoted_semicolons_and_multiple_keys(ws: Workspace) -> None:
    for year in ("2023", "2024"):
        write_partitions(ws.root / "src" / f"year={year}", ["a;b", "c'd", "e"], key="region")
    ws.snapshot("regions", ws.root / "src")
    assert ws.version("regions@1").partitioning == {"year": "int64", "region": "string"}

    def chosen(condition: str) -> list[str]:
        return [f.path for f in ws.load("regions@1", partitions=condition).files]

    assert chosen("region = 'a;b' AND year = 2024") == ["year=2024/region=a;b/part-0.parquet"]
    assert chosen("region = 'c''d'") == [
        f"year={y}/region=c'd/part-0.parquet" for y in (2023, 2024)
    ]
    assert chosen("\"region\" IN ('e', ';') AND year < 2024") == [
        "year=2023/region=e/part-0.parquet"
    ]
    assert len(chosen("year = 2024 OR region LIKE 'a%'")) == 4
    frame = ws.load("regions@1", partitions="region = 'a;b'").to_pandas()
    assert sorted(frame["year"].unique().tolist()) == [2023, 2024] and len(frame) == 200


def test_a_semicolon_in_a_comment_is_part_of_one_condition(snap: Workspace) -> None:
    for condition in ("date = '2024-01-02' -- ; note", "date = '2024-01-02' /* a; b */"):
        reader = snap.load("sales@1", partitions=condition)
        assert [f.path for f in reader.files] == ["date=2024-01-02/part-0.parquet"]
    with pytest.raises(QueryError, match="holds a ';'"):
        snap.load("sales@1", partitions="date = '2024-01-02'; DROP TABLE t")


def test_a_filter_over_files_sharing_a_partition_keeps_them_all(ws: Workspace) -> None:
    src = write_partitions(ws.root / "src", ["2024-01-01", "2024-01-02"])
    (src / "date=2024-01-01" / "part-0.parquet").rename(src / "date=2024-01-01" / "part-1.parquet")
    write_partitions(ws.root / "src", ["2024-01-01"], seed=1)
    ws.snapshot("twice", src)
    reader = ws.load("twice@1", partitions="date = DATE '2024-01-01'")
    assert [f.path for f in reader.files] == [
        "date=2024-01-01/part-0.parquet",
        "date=2024-01-01/part-1.parquet",
    ]
    assert reader.to_arrow().num_rows == 200


# -- 4, 5. materialize writes all of a version, or nothing --------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_failed_materialize_leaves_nothing(snap: Workspace, tmp_path: Path, cli: Cli) -> None:
    files = snap.version("sales@1", with_files=True).files
    path = blob_path(snap, files[2])
    good = path.read_bytes()
    flip_a_byte(path)
    out = tmp_path / "out"
    r = cli("data", "materialize", "sales@1", out)
    assert r.code == 1 and f"error: sales@1: {files[2].path}: blob {files[2].blob}" in r.err
    assert leftovers(tmp_path) == ["ws"]  # no out, no hidden temporary folder
    with pytest.raises(IntegrityError, match=re.escape(files[2].path)):
        snap.materialize("sales@1", tmp_path / "a" / "b" / "out")
    assert leftovers(tmp_path) == ["ws"]  # the parents it made are gone too

    overwrite(path, good)  # repaired: the same destination is accepted
    assert cli("data", "materialize", "sales@1", out).code == 0
    assert leftovers(out) == [f"date=2024-01-0{d}" for d in (1, 2, 3)]
    assert leftovers(tmp_path) == ["out", "ws"]


def test_a_failed_materialize_into_an_empty_folder_leaves_it_empty(
    snap: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o750)
    blob_path(snap, snap.version("sales@1", with_files=True).files[0]).unlink()
    with pytest.raises(
        NotFoundError, match=re.escape("sales@1: date=2024-01-01/part-0.parquet: blob")
    ):
        snap.materialize("sales@1", out)
    assert leftovers(tmp_path) == ["out", "ws"] and leftovers(out) == []


def test_materialize_fills_an_empty_folder_keeping_its_mode(
    snap: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o750)
    link = tmp_path / "link"
    link.symlink_to(out)
    snap.materialize("sales@1", link)
    assert link.is_symlink() and len(list(out.rglob("*.parquet"))) == 3
    assert out.stat().st_mode & 0o777 == 0o750
    assert leftovers(tmp_path) == ["link", "out", "ws"]


def test_an_interrupted_materialize_leaves_nothing(
    snap: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = snap.store
    real = store.get_file
    calls: list[str] = []

    def interrupted(blob: str, dest: str | os.PathLike[str]) -> None:
        calls.append(blob)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(blob, dest)

    monkeypatch.setattr(store, "get_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        snap.materialize("sales@1", tmp_path / "out")
    assert calls and leftovers(tmp_path) == ["ws"]


def test_materialize_under_a_file_is_one_clear_error(
    snap: Workspace, tmp_path: Path, cli: Cli
) -> None:
    (tmp_path / "f").write_text("mine")
    for dest in (tmp_path / "f" / "sub", tmp_path / "f" / "a" / "b"):
        r = cli("data", "materialize", "sales@1", dest)
        assert r.code == 1 and "internal error" not in r.err
        assert f"error: cannot write the destination {dest}: {tmp_path / 'f'} is a file" in r.err
    assert leftovers(tmp_path) == ["f", "ws"] and (tmp_path / "f").read_text() == "mine"


def test_an_unwritable_destination_is_one_clear_error(
    snap: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent that refuses the new folder; an empty mount point is written in place."""
    real_mkdir = Path.mkdir

    def refusing(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == tmp_path / "ro":
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refusing)
    (tmp_path / "ro").mkdir()
    with pytest.raises(BackendError, match=r"cannot write the destination .*/ro/out: Permission"):
        snap.materialize("sales@1", tmp_path / "ro" / "out")
    mount = tmp_path / "ro" / "mnt"
    real_mkdir(mount)
    snap.materialize("sales@1", mount)
    assert len(list(mount.rglob("*.parquet"))) == 3 and leftovers(tmp_path / "ro") == ["mnt"]


def test_materialize_fills_an_empty_mount_point_in_place(
    snap: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename onto a mount point fails with EBUSY (Docker's `-v host:/data`): none is tried."""
    mount, other = tmp_path / "data", tmp_path / "other"
    mount.mkdir()
    other.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) in (mount, other) or real_ismount(p))
    monkeypatch.setattr(os, "rename", lambda *_: pytest.fail("a mount point cannot be renamed"))
    snap.materialize("sales@1", mount)
    assert leftovers(mount) == [f"date=2024-01-0{d}" for d in (1, 2, 3)]
    blob_path(snap, snap.version("sales@1", with_files=True).files[0]).unlink()
    with pytest.raises(NotFoundError):
        snap.materialize("sales@1", other)
    assert leftovers(other) == [] and leftovers(tmp_path) == ["data", "other", "ws"]


@pytest.mark.parametrize("code", [errno.EBUSY, errno.EXDEV])
def test_materialize_falls_back_to_in_place_when_the_rename_is_refused(
    snap: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refused(src: object, dst: object) -> None:
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "rename", refused)
    mount = tmp_path / "data"
    mount.mkdir()
    snap.materialize("sales@1", mount)
    assert leftovers(mount) == [f"date=2024-01-0{d}" for d in (1, 2, 3)]
    assert leftovers(tmp_path) == ["data", "ws"]  # no hidden temporary folder left


def test_materialize_into_a_real_bind_mount(snap: Workspace, tmp_path: Path) -> None:
    host, mount = tmp_path / "host", tmp_path / "data"
    host.mkdir()
    mount.mkdir()
    try:
        subprocess.run(["mount", "--bind", host, mount], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("bind mounts are not permitted here")
    try:
        snap.materialize("sales@1", mount)
        assert leftovers(host) == [f"date=2024-01-0{d}" for d in (1, 2, 3)]
        assert leftovers(tmp_path) == ["data", "host", "ws"]
    finally:
        subprocess.run(["umount", mount], check=True)
