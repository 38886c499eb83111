"""A workspace: the folder holding mlcd.yaml, its object store and its metadata DB."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcd.config import CONFIG_FILE, MlcdConfig, load_config_cached
from mlcd.errors import ConfigError, InvalidNameError, NotFoundError, WorkspaceNotFoundError
from mlcd.names import parse_ref, validate_name

if TYPE_CHECKING:
    from threading import Event as StopEvent

    import pandas as pd
    import pyarrow as pa

    from mlcd.checks.result import CheckResult
    from mlcd.checks.spec import DataCheck
    from mlcd.checks.stats import ColumnStats
    from mlcd.data.diff import DatasetDiff
    from mlcd.data.manifest import DatasetVersion
    from mlcd.data.reader import DatasetReader
    from mlcd.data.snapshot import Progress, SnapshotResult
    from mlcd.events.log import Event
    from mlcd.events.processor import ActionResult, ResultCallback
    from mlcd.meta import Database
    from mlcd.pipeline.compare import RunComparison
    from mlcd.pipeline.records import Run
    from mlcd.pipeline.runner import Reporter, RunResult
    from mlcd.pipeline.spec import Pipeline
    from mlcd.registry.entities import AliasMove, ModelSummary, ModelVersion
    from mlcd.store import ObjectStore
    from mlcd.store.marks import Mark

STATE_DIR = ".mlcd"

TEMPLATE = """\
# mlcd workspace. Reference: https://github.com/mlcd/mlcd#mlcdyaml
project: {project}

# Seed handed to every pipeline step (MLCD_SEED); override per run.
seed: 42

# Content-addressed blobs: a local folder, or s3://bucket/prefix, az://container/prefix.
store: .mlcd/objects

# Metadata DB: SQLite by default; postgresql+psycopg://user@host/db for a team.
metadata: sqlite:///.mlcd/mlcd.db

# Datasets: `mlcd data snapshot NAME` snapshots the source given here.
datasets: {{}}
#  sales:
#    source: data/sales/              # a folder of Parquet/CSV/JSON-lines, Hive partitions ok
#  customers:
#    source: sqlite:///ops.db         # any SQLAlchemy database URL ...
#    query: SELECT * FROM customers   # ... with a query (or `table: customers`)
"""


class Workspace:
    """The facade every command goes through: one method per operation.

    Open one with `Workspace.find()` (walks up from the current folder, like git) or
    `Workspace.init(path)`.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.state = self.root / STATE_DIR
        self.config: MlcdConfig = load_config_cached(
            self.root / CONFIG_FILE, self.state / "cache" / "config.json"
        )

    def reload_config(self) -> bool:
        """Re-read mlcd.yaml (for long-running commands); True when it changed.

        A malformed file raises ConfigError and the current config stays. The store and the
        metadata DB stay those opened first.
        """
        config = load_config_cached(self.root / CONFIG_FILE, self.state / "cache" / "config.json")
        changed = config != self.config
        self.config = config
        return changed

    # -- discovery -------------------------------------------------------------------------

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace containing `start` (default: the current folder)."""
        here = Path(start or Path.cwd()).absolute()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls(folder)
        raise WorkspaceNotFoundError(
            f"{here} is not inside an mlcd workspace (no {CONFIG_FILE} here or above)",
            hint="run `mlcd init` to make one",
        )

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", project: str | None = None) -> Workspace:
        """Create mlcd.yaml and .mlcd/ in `path`, and keep .mlcd/ out of git."""
        root = Path(path).absolute()
        config = root / CONFIG_FILE
        if config.exists():
            raise ConfigError(f"{root} is already an mlcd workspace ({CONFIG_FILE} exists)")
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root} is a file, not a folder", hint="pass a folder to init")
        name = project or _project_name(root.name)
        validate_name(name, "project")
        # what to remove when init fails half-way, so that a retry starts afresh
        first_new = next((p for p in (*reversed(root.parents), root) if not p.exists()), None)
        state_is_new = not (root / STATE_DIR).exists()
        ws = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            config.write_text(TEMPLATE.format(project=name), encoding="utf-8")
            (root / STATE_DIR).mkdir(exist_ok=True)
            ws = cls(root)
            ws.db.migrate()
            _ignore_in_git(root / ".gitignore", f"/{STATE_DIR}/")  # last: nothing to undo
        except BaseException as exc:
            if ws is not None:
                ws.close()
            _undo_init(root, first_new, state_is_new)
            if isinstance(exc, OSError):
                raise ConfigError(
                    f"cannot make a workspace in {root}: {exc.strerror} ({exc.filename})",
                    hint="check that the path is a folder you can write to",
                ) from exc
            raise
        return ws

    # -- wiring ----------------------------------------------------------------------------

    @cached_property
    def store(self) -> ObjectStore:
        from mlcd.store import LocalObjectStore, open_store

        store = open_store(self.config.store, base=self.root, owner=self._mark)
        where = store.root.resolve() if isinstance(store, LocalObjectStore) else None
        if where is not None and (
            where == self.root.resolve() or where in self.root.resolve().parents
        ):  # its tmp/ and b3/ would mix with the user's files, which gc must never touch
            raise ConfigError(
                f"store: {self.config.store!r} is the workspace folder or one holding it",
                hint="give the store a folder of its own, e.g. `store: .mlcd/objects`",
            )
        return store

    def _mark(self) -> Mark:
        """What this workspace's writes leave in its store: its DB's id, and where from."""
        import socket

        from mlcd.store.marks import Mark

        about = {"db": self.db.url, "workspace": str(self.root), "host": socket.gethostname()}
        return Mark(self.db.id, about)

    @cached_property
    def db(self) -> Database:
        from mlcd.meta import Database

        return Database(self.config.metadata, base=self.root)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- datasets --------------------------------------------------------------------------

    def snapshot(
        self,
        name: str,
        source: str | os.PathLike[str] | pd.DataFrame | pa.Table | None = None,
        *,
        query: str | None = None,
        table: str | None = None,
        append: bool = False,
        message: str | None = None,
        rehash: bool = False,
        progress: Progress | None = None,
    ) -> SnapshotResult:
        """Snapshot a source as the next version of dataset `name`.

        Args:
            name: the dataset.
            source: a folder or file (Parquet/CSV/JSON lines), a pandas DataFrame, an Arrow
                table, or a database URL with `query` or `table`. Default: the dataset's
                `source` in mlcd.yaml.
            append: add the source's files as new partitions on top of the latest version.
            message: a note stored with the version.
            rehash: re-hash every file instead of trusting unchanged stat information.

        Returns:
            The new version, or the latest one unchanged when the content is identical.
        """
        from mlcd.data.snapshot import Context, snapshot

        if source is None:
            source, query, table = self._configured_source(name)
        elif isinstance(source, str | os.PathLike) and not Path(source).is_absolute():
            from mlcd.config import is_database_url

            if not is_database_url(str(source)):
                source = Path.cwd() / source
        ctx = Context(self.store, self.db, self.state / "cache" / "stat.db", self.state / "tmp")
        return snapshot(
            ctx,
            name,
            source,
            query=query,
            table=table,
            append=append,
            message=message,
            rehash=rehash,
            progress=progress,
        )

    def _configured_source(self, name: str) -> tuple[str, str | None, str | None]:
        configured = self.config.datasets.get(name)
        if configured is None or configured.source is None:
            raise ConfigError(
                f"no source given for dataset {name!r}, and mlcd.yaml declares none",
                hint=f"pass a SOURCE, or set datasets.{name}.source in mlcd.yaml",
            )
        from mlcd.config import is_database_url

        source = configured.source
        if is_database_url(source):  # a SQLite file, too, is relative to the workspace root
            from mlcd.data.sources import root_sqlite_url

            source = root_sqlite_url(source, self.root)
        else:
            source = str(self.root / source)
        return source, configured.query, configured.table

    def version(self, ref: str, with_files: bool = False) -> DatasetVersion:
        """Resolve `name@N` or `name@latest` (a bare name means latest)."""
        from mlcd.data import catalog

        with self.db.sql() as conn:
            return catalog.resolve(conn, parse_ref(ref), with_files=with_files)

    def load(
        self,
        ref: str,
        columns: str | Sequence[str] | None = None,
        partitions: str | None = None,
        *,
        verify: bool = True,
    ) -> DatasetReader:
        """A reader over a version: `.to_pandas()`, `.to_arrow()`, `.duckdb()`.

        Local blobs are hashed on their first read and only stat'ed afterwards (remembered in
        `.mlcd/cache/verified.db`); `verify=False` skips the hashing, for a trusted store.
        """
        from mlcd.data.reader import DatasetReader

        version = self.version(ref, with_files=True)
        verified = self.state / "cache" / "verified.db"
        return DatasetReader(
            version, self.store, columns, partitions, verify=verify, verified=verified
        )

    def datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        from mlcd.data import catalog

        with self.db.sql() as conn:
            return catalog.list_latest(conn)

    def log(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        from mlcd.data import catalog

        validate_name(name)
        with self.db.sql() as conn:
            return catalog.history(conn, name)

    def diff(self, a: str, b: str | None = None) -> DatasetDiff:
        """What changed from version `a` to `b` (default: from `a`'s parent to `a`)."""
        from mlcd.data.diff import diff_versions

        newer = self.version(b or a, with_files=True)
        if b is None:
            if newer.parent is None:
                raise NotFoundError(f"{newer.ref} has no parent to compare with")
            older = self.version(f"{newer.name}@{newer.parent}", with_files=True)
        else:
            older = self.version(a, with_files=True)
        return diff_versions(older, newer)

    def materialize(self, ref: str, dest: str | os.PathLike[str]) -> DatasetVersion:
        """Write the exact files of a version to a new folder, verified against their hashes."""
        from mlcd.data.materialize import materialize

        version = self.version(ref, with_files=True)
        materialize(version, self.store, Path(dest))
        return version

    # -- pipelines -------------------------------------------------------------------------

    def pipeline(self, overrides: Sequence[str] = ()) -> Pipeline:
        """The validated steps of mlcd.yaml, in run order."""
        from mlcd.pipeline.runner import load_pipeline

        return load_pipeline(self, overrides)[0]

    def run(
        self,
        targets: Sequence[str] = (),
        *,
        overrides: Sequence[str] = (),
        seed: int | None = None,
        force: bool = False,
        jobs: int = 1,
        check_determinism: bool = False,
        require_clean: bool = False,
        reporter: Reporter | None = None,
        command: str = "mlcd run",
    ) -> RunResult:
        """Run steps (default: all) and what they need; unchanged steps come from the cache.

        Args:
            targets: step names; their upstream steps run too.
            overrides: `key=value` params overrides (`train.lr=0.1`), typed like YAML.
            seed: the run's seed (default: `seed:` of mlcd.yaml).
            force: execute every step even when its key is cached.
            jobs: how many independent steps may run at once.
            check_determinism: run each executed step twice and compare its outputs.
            require_clean: refuse to run on a dirty git work tree.
        """
        from mlcd.pipeline.runner import RunOptions, run_pipeline

        options = RunOptions(
            targets=targets,
            overrides=overrides,
            seed=seed,
            force=force,
            jobs=jobs,
            check_determinism=check_determinism,
            require_clean=require_clean,
            command=command,
        )
        return run_pipeline(self, options, reporter)

    def runs(self, limit: int = 50) -> list[Run]:
        """The newest runs first."""
        from mlcd.pipeline import records

        with self.db.sql() as conn:
            return records.list_runs(conn, limit)

    def get_run(self, run_id: str) -> Run:
        """A run by id, unique id prefix, or `latest`."""
        from mlcd.pipeline import records

        with self.db.sql() as conn:
            return records.get_run(conn, run_id)

    def compare_runs(self, a: str, b: str) -> RunComparison:
        from mlcd.pipeline.compare import compare_runs

        return compare_runs(self.get_run(a), self.get_run(b))

    def logs(self, run_id: str, step: str, stream: str = "stdout") -> bytes:
        """What a step of a run printed, from the store."""
        run = self.get_run(run_id)
        for rec in run.steps:
            if rec.step == step:
                blob = rec.stdout if stream == "stdout" else rec.stderr
                return self.store.get_bytes(blob) if blob else b""
        raise NotFoundError(
            f"run {run.id} has no step {step!r}",
            hint=f"its steps: {', '.join(s.step for s in run.steps) or 'none'}",
        )

    # -- models ----------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        flavor: str | None = None,
        example: Any = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        run: str | None = None,
        datasets: Mapping[str, str] | None = None,
        trust: Sequence[str] = (),
    ) -> ModelVersion:
        """Register a model (an object, or an artifact file/folder) as the next version of `name`.

        Args:
            model: a scikit-learn estimator, torch module, ONNX model, an object with
                `predict(DataFrame)`, or a path to a .skops/.onnx/.pt artifact or folder.
            example: a few input rows (DataFrame or array): the signature is inferred from it
                and stored with it, and the ONNX twin's parity is measured on it.
            run: the run that made it (default: the current run, inside a step); its commit,
                params, seed, environment and pinned datasets become the lineage.
            datasets: roles of dataset inputs, `{"sales": "train"}`; or, without a run, the
                versions themselves, `{"sales@3": "train"}`.
            trust: skops types you vouch for (e.g. "sklearn.tree._tree.Tree").
        """
        from mlcd.pipeline.context import current_run
        from mlcd.registry.register import Lineage, explicit_datasets, lineage_of_run, register

        roles = dict(datasets or {})
        ctx = current_run()
        run_id = run or (ctx.run_id if ctx else None)
        if run_id is not None:
            lineage = lineage_of_run(self, run_id, roles)
            if ctx is not None and run is None:
                lineage = replace(lineage, step=ctx.step)
        else:
            lineage = Lineage(datasets=explicit_datasets(self, roles))
        return register(
            self,
            name,
            model,
            flavor=flavor,
            example=example,
            metrics=metrics,
            tags=tags,
            description=description,
            lineage=lineage,
            trust=trust,
        )

    def model(self, ref: str) -> ModelVersion:
        """A model version's metadata: `churn@3`, `churn@latest`, `churn@production`."""
        from mlcd.registry.register import get_version

        return get_version(self, ref)

    def load_model(self, ref: str, onnx: bool = False) -> Any:
        """The model itself (native, or its ONNX twin), every blob verified against its hash."""
        from mlcd.registry.register import load

        return load(self, ref, use_onnx=onnx)

    def models(self) -> list[ModelSummary]:
        from mlcd.registry import catalog

        with self.db.sql() as conn:
            return catalog.summaries(conn)

    def model_versions(self, name: str) -> list[ModelVersion]:
        from mlcd.registry import catalog

        validate_name(name, "model")
        with self.db.sql() as conn:
            return catalog.versions(conn, name)

    def set_alias(
        self, name: str, alias: str, version: int | str | None, reason: str | None = None
    ) -> AliasMove:
        """Point `alias` at a version (None removes it); the move is kept in the history."""
        from mlcd.events.log import ALIAS_MOVED, emit
        from mlcd.identity import current_user
        from mlcd.names import validate_alias
        from mlcd.registry import catalog

        validate_name(name, "model")
        validate_alias(alias)
        with self.db.sql(write=True) as conn:
            number = None
            if version is not None:
                number = catalog.resolve(
                    conn, parse_ref(f"{name}@{version}", "model", aliases=True)
                ).number
            move = catalog.move_alias(conn, name, alias, number, current_user(), reason)
            emit(
                conn,
                ALIAS_MOVED,
                f"{name}@{alias}",
                {
                    "model": name,
                    "alias": alias,
                    "version": number,
                    "from_version": move.from_version,
                    "reason": reason,
                    "by": move.by,
                },
            )
        return move

    def alias_history(self, name: str) -> list[AliasMove]:
        from mlcd.registry import catalog

        validate_name(name, "model")
        with self.db.sql() as conn:
            return catalog.alias_history(conn, name)

    def lineage(self, ref: str) -> dict[str, Any]:
        """Model -> run -> commit -> steps -> dataset versions -> files, from the DB."""
        from mlcd.registry.lineage import lineage

        return lineage(self, self.model(ref))

    def used_by(self, ref: str) -> dict[str, Any]:
        """Model versions and runs that consumed a dataset version."""
        from mlcd.registry import catalog

        v = self.version(ref)
        with self.db.sql() as conn:
            return {"dataset": v.ref, **catalog.used_by(conn, v.name, v.number)}

    # -- events ----------------------------------------------------------------------------

    def events(self, after: int = 0, type_: str | None = None, limit: int = 1000) -> list[Event]:
        """Events with an id above `after`, oldest first, optionally of one type."""
        from mlcd.events.log import TYPES, list_events

        if type_ is not None and type_ not in TYPES:
            raise InvalidNameError(
                f"unknown event type {type_!r}", hint=f"use one of {', '.join(TYPES)}"
            )
        with self.db.sql() as conn:
            return list_events(conn, after=after, type_=type_, limit=limit)

    def process_events(
        self,
        consumer: str = "default",
        *,
        claim_timeout: float | None = None,
        on_result: ResultCallback | None = None,
    ) -> list[ActionResult]:
        """Run the `on:` actions of new events, each once (see mlcd.events.processor)."""
        from mlcd.events.processor import CLAIM_TIMEOUT, process_events

        return process_events(
            self, consumer, claim_timeout=claim_timeout or CLAIM_TIMEOUT, on_result=on_result
        )

    def skip_events(self, consumer: str = "default") -> tuple[int, int]:
        """Mark every event so far as seen by `consumer`, without running its actions."""
        from mlcd.events.processor import skip_events

        return skip_events(self, consumer)

    def watch(
        self,
        interval: float = 2.0,
        *,
        stop: StopEvent | None = None,
        consumer: str = "default",
        claim_timeout: float | None = None,
        on_result: ResultCallback | None = None,
        on_config_error: Callable[[ConfigError], None] | None = None,
    ) -> int:
        """Process events every `interval` seconds until `stop` is set or Ctrl-C; `on:` is
        re-read from mlcd.yaml each round (a malformed edit keeps the last good one)."""
        from mlcd.events.processor import CLAIM_TIMEOUT, watch

        return watch(
            self,
            interval,
            stop,
            consumer=consumer,
            claim_timeout=claim_timeout or CLAIM_TIMEOUT,
            on_result=on_result,
            on_config_error=on_config_error,
        )

    def install_hook(self, command: str = "mlcd run", force: bool = False) -> Path:
        """Write the git post-commit hook that runs `command`; returns the hook's path."""
        from mlcd.events.hooks import install_git_hook

        return install_git_hook(self, command, force=force)

    # -- checks ----------------------------------------------------------------------------

    def profile(self, ref: str, histograms: bool = True) -> dict[str, ColumnStats]:
        """Every column's statistics (computed once per content, then read back)."""
        from mlcd.checks.profile import get_profile

        return get_profile(self, self.load(ref), histograms=histograms)

    def declared_checks(self, name: str) -> list[DataCheck]:
        """The `checks:` of a dataset in mlcd.yaml, parsed."""
        from mlcd.checks.spec import parse_checks

        configured = self.config.datasets.get(name)
        raw = configured.checks if configured is not None else []
        return parse_checks(raw, f"datasets.{name}.checks")

    def check_data(
        self, ref: str, checks: Sequence[DataCheck] | None = None, run_id: str | None = None
    ) -> list[CheckResult]:
        """Run data checks (default: those declared for the dataset) and record the results."""
        from mlcd.checks.data import run_data_checks
        from mlcd.checks.report import record_checks

        reader = self.load(ref)
        if checks is None:
            checks = self.declared_checks(reader.version.name)
        results = run_data_checks(self, reader, checks)
        record_checks(self.db, reader.version.ref, "data", results, run_id)
        return results

    def check_model(
        self,
        ref: str,
        data: str | os.PathLike[str] | None = None,
        target: str | None = None,
        checks: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> list[CheckResult]:
        """Run model checks on held-out data and record them on the version.

        Defaults come from the `model:` block of the step that registers this model.
        """
        from mlcd.checks.model import run_model_checks
        from mlcd.checks.report import record_checks
        from mlcd.registry.signature import read_example_file

        version = self.model(ref)
        declared = next(
            (
                s.model
                for s in self.config.steps.values()
                if s.model and s.model.name == version.name
            ),
            None,
        )
        data = data or (
            self.root / declared.validation if declared and declared.validation else None
        )
        target = target or (declared.target if declared else None)
        names = list(checks) if checks is not None else list(declared.checks if declared else [])
        if data is None or target is None:
            raise ConfigError(
                f"no held-out data to check {version.ref} with",
                hint="pass --data FILE --target COLUMN, or declare validation/target in the "
                "model: block",
            )
        frame = read_example_file(str(data))
        if target not in frame.columns:
            raise ConfigError(f"validation data {data} has no column {target!r}")
        X, y = frame.drop(columns=[target]), frame[target]
        model = self.load_model(version.ref)
        results = run_model_checks(model, X, y, names)
        record_checks(self.db, version.ref, "model", results, run_id)
        return results


def _project_name(folder: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-." else "-" for c in folder).strip("-.")
    return cleaned or "project"


def _undo_init(root: Path, first_new: Path | None, state_is_new: bool) -> None:
    with contextlib.suppress(OSError):
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)
            return
        (root / CONFIG_FILE).unlink(missing_ok=True)
        if state_is_new:
            shutil.rmtree(root / STATE_DIR, ignore_errors=True)


def _ignore_in_git(gitignore: Path, pattern: str) -> None:
    """Append `pattern` unless the file already ignores the same folder (`.mlcd`, `/.mlcd/`...).

    Bytes, not text: a .gitignore need not be UTF-8, and is left as it is but for the new line.
    """
    old = gitignore.read_bytes() if gitignore.exists() else b""
    bare = pattern.strip("/")
    same = {bare, f"/{bare}", f"{bare}/", f"/{bare}/"}
    if any(line.strip().decode("utf-8", "replace") in same for line in old.splitlines()):
        return
    prefix = b"" if not old or old.endswith(b"\n") else b"\n"
    with gitignore.open("ab") as f:
        f.write(prefix + pattern.encode() + b"\n")
