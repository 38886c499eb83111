"""A real PostgreSQL for the tests: one server per session on 127.0.0.1, one database per test.

The server runs from Debian's binaries (`initdb`, `pg_ctl`) in a temporary folder, with trust
authentication and no fsync. PostgreSQL refuses to run as root, so under root (CI) the
binaries run as the `postgres` user. When no binaries are found, tests that need the server
fail with a message saying how to install them, unless MLCD_SKIP_POSTGRES=1 lets them skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mlcd.workspace import Workspace

SKIP_VARIABLE = "MLCD_SKIP_POSTGRES"
SUPERUSER = "postgres"

# A test module that sets `DB_BACKENDS = BACKENDS` runs each of its tests that use the `ws`
# fixture once per metadata DB; `@sqlite_only` keeps a test about the SQLite lane to SQLite.
# The PostgreSQL runs are `slow`, as the project defines it: they need a server.
BACKENDS = ("sqlite", "postgresql")
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"])


def parametrize_backends(metafunc: pytest.Metafunc) -> None:
    """The `pytest_generate_tests` of tests/conftest.py: `db_backend` over DB_BACKENDS."""
    backends = getattr(metafunc.module, "DB_BACKENDS", None)
    pinned = any("db_backend" in m.args[0] for m in metafunc.definition.iter_markers("parametrize"))
    if backends and not pinned and "db_backend" in metafunc.fixturenames:
        slow = [pytest.mark.slow]
        metafunc.parametrize(
            "db_backend", [pytest.param(b, marks=slow if b != "sqlite" else []) for b in backends]
        )


def find_binaries() -> Path | None:
    """The folder holding `pg_ctl` and `initdb`: PATH first, then Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    folders = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return next((f for f in folders if (f / "pg_ctl").is_file() and (f / "initdb").is_file()), None)


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `url(db)` is a SQLAlchemy URL for one of its databases."""

    bin: Path
    folder: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        """An autocommit psycopg connection to the `postgres` database."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex}"
        with self.admin() as conn:
            # Sorted like most servers (en-US, by ICU), not bytewise as the cluster's C locale:
            # mlcd must not depend on the server's collation for names and paths.
            conn.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
                " ICU_LOCALE 'en-US' LOCALE 'C'"
            )
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:  # FORCE: a test may leave connections open behind it
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / "pg_ctl"), "-D", str(self.data), *args], self, timeout)


def _run(
    cmd: list[str], server: PostgresServer, timeout: float
) -> subprocess.CompletedProcess[str]:
    # stdout to a file, not a pipe: pg_ctl's server inherits it and would hold a pipe open
    with (server.folder / "commands.log").open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(
            cmd,
            cwd=server.folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            user=server.run_as,
            group=_group(server.run_as),
            extra_groups=[] if server.run_as else None,
        )
    if done.returncode != 0:
        log = (server.folder / "commands.log").read_text(errors="replace")[-3000:]
        server_log = server.folder / "server.log"
        if server_log.exists():
            log += "\n--- server.log ---\n" + server_log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{cmd[0]} failed (exit {done.returncode}):\n{log}")
    return done


def _group(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server() -> PostgresServer:
    """initdb + pg_ctl start in a new temporary folder; the caller stops it (`stop_server`)."""
    binaries = find_binaries()
    if binaries is None:
        raise FileNotFoundError("pg_ctl")
    run_as = None
    if os.geteuid() == 0:  # "root" execution of the PostgreSQL server is not permitted
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise RuntimeError(
                "running as root, and there is no `postgres` user to run PostgreSQL as"
            ) from None
        run_as = SUPERUSER
    # not under pytest's tmp_path: its folders are private to root, the server could not enter
    folder = Path(tempfile.mkdtemp(prefix="mlcd-pg-"))
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    for attempt in range(3):
        server = PostgresServer(binaries, folder, _free_port(), run_as)
        if attempt == 0:
            _run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(server.data),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                server,
                timeout=120,
            )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={server.port}",
                f"-c unix_socket_directories={folder}",
                "-c max_connections=200",
                # a zone far from UTC, as a team's server may have: times must still read as UTC
                "-c timezone=Asia/Kathmandu",
                # throwaway data: durability costs time and proves nothing here
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        try:
            server.pg_ctl(
                "start", "-w", "-t", "60", "-l", str(folder / "server.log"), "-o", options
            )
        except RuntimeError:
            if attempt == 2:  # another process may have taken the port: try another one
                raise
            continue
        return server
    raise AssertionError("unreachable")


def stop_server(server: PostgresServer) -> None:
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        server.pg_ctl("stop", "-m", "fast", "-w")
    shutil.rmtree(server.folder, ignore_errors=True)


def missing_message() -> str:
    return (
        "PostgreSQL binaries (pg_ctl, initdb) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install them (`apt-get install postgresql`), "
        f"or set {SKIP_VARIABLE}=1 to skip the PostgreSQL tests"
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session; fails (never skips silently) without one."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1")
    if find_binaries() is None:
        pytest.fail(missing_message(), pytrace=False)
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def init_workspace(root: Path, metadata: str) -> Workspace:
    """`Workspace.init(root)`, with mlcd.yaml naming `metadata` as the metadata DB."""
    from mlcd import workspace

    default = "metadata: sqlite:///.mlcd/mlcd.db\n"
    assert default in workspace.TEMPLATE
    with pytest.MonkeyPatch.context() as m:
        m.setattr(
            workspace, "TEMPLATE", workspace.TEMPLATE.replace(default, f"metadata: {metadata}\n")
        )
        return workspace.Workspace.init(root)
