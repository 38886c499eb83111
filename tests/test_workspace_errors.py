"""Workspace.init and the metadata/cache files it relies on: failures are MlcdErrors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mlcd.errors import ConfigError, MetadataError
from mlcd.meta import Database
from mlcd.workspace import Workspace
from tests.cli.conftest import WITHOUT_DAC_OVERRIDE, Cli, assert_error, mlcd


def test_init_on_a_file_names_it(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert_error(cli("init", "afile"), "afile is a file, not a folder")
    assert_error(cli("init", "afile/x"), "cannot make a workspace in", "afile/x", "Not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.slow  # a real process
def test_init_in_a_read_only_folder(tmp_path: Path) -> None:
    """A real process; as root (CI), one without the capability to bypass permissions."""
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    try:
        prefix = WITHOUT_DAC_OVERRIDE if os.geteuid() == 0 else ()
        r = mlcd("init", folder, cwd=tmp_path, prefix=prefix)
        assert_error(r, "cannot make a workspace in", "Permission denied")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(ConfigError, match=r"cannot make a workspace in .*Permission denied"):
        Workspace.init(tmp_path / "new" / "ws")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_init_can_be_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".gitignore").write_bytes(b"*.pyc\n")
    (tmp_path / "data.csv").write_text("a\n1\n")

    def broken(self: Database) -> None:
        raise MetadataError("metadata DB broke")

    with monkeypatch.context() as m:
        m.setattr(Database, "migrate", broken)
        with pytest.raises(MetadataError):
            Workspace.init(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "data.csv"]
    assert (tmp_path / ".gitignore").read_bytes() == b"*.pyc\n"
    Workspace.init(tmp_path).close()


def test_a_gitignore_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_bytes(b"\xff\xfe\n")
    Workspace.init(tmp_path).close()
    assert (tmp_path / ".gitignore").read_bytes() == b"\xff\xfe\n/.mlcd/\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", b"/.mlcd/\n"),
        (b"*.pyc\n", b"*.pyc\n/.mlcd/\n"),
        (b"*.pyc", b"*.pyc\n/.mlcd/\n"),
        (b"*.pyc\n\n", b"*.pyc\n\n/.mlcd/\n"),
        *((b"x\n%s\n" % entry, b"x\n%s\n" % entry) for entry in (b".mlcd", b".mlcd/", b"/.mlcd")),
        (b"/.mlcd/\r\n", b"/.mlcd/\r\n"),
    ],
)
def test_gitignore_gets_one_entry(tmp_path: Path, before: bytes, after: bytes) -> None:
    (tmp_path / ".gitignore").write_bytes(before)
    Workspace.init(tmp_path).close()
    assert (tmp_path / ".gitignore").read_bytes() == after


def test_an_unwritable_stat_index_names_it(
    ws: Workspace, sales: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root a read-only folder is still writable: the driver's refusal is simulated."""
    connect = sqlite3.connect

    def readonly(path: object, *args: object, **kwargs: Any) -> sqlite3.Connection:
        if str(path).endswith("stat.db"):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return connect(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", readonly)
    assert_error(cli("data", "snapshot", "sales", sales), "stat.db", "readonly database")


def test_a_corrupt_stat_index_names_it(ws: Workspace, sales: Path, cli: Cli) -> None:
    (ws.state / "cache").mkdir(exist_ok=True)
    (ws.state / "cache" / "stat.db").write_bytes(b"garbage\n")
    assert_error(cli("data", "snapshot", "sales", sales), "stat.db", "not a database")


@pytest.mark.slow  # a real process
def test_a_read_only_metadata_db_says_so(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    db = tmp_path / "ws" / ".mlcd" / "mlcd.db"
    (tmp_path / "a.csv").write_text("a\n1\n")
    db.chmod(0o444)
    try:
        prefix = WITHOUT_DAC_OVERRIDE if os.geteuid() == 0 else ()
        r = mlcd("data", "snapshot", "x", tmp_path / "a.csv", cwd=tmp_path / "ws", prefix=prefix)
        assert_error(r, "readonly database")
        assert "hint: the DB file or its folder is read-only" in r.err
    finally:
        db.chmod(0o644)
