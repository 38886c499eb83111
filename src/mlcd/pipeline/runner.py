"""Running a pipeline: pin inputs, key each step, restore from cache or execute, record it all.

Every step runs in its own process, in the workspace root, writing its declared outputs.
The runner alone touches the DB and the store (from the main thread); worker threads only
wait on step processes, so `-j N` runs independent steps side by side safely.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcd.data.statcache import StatCache
from mlcd.errors import ConfigError, MlcdError, StepFailedError
from mlcd.identity import current_user
from mlcd.pipeline import records
from mlcd.pipeline.context import ENV_CONTEXT, RunContext, read_log
from mlcd.pipeline.files import (
    Hasher,
    StoredPath,
    all_present,
    remove_path,
    restore_path,
    store_path,
    tree_files,
)
from mlcd.pipeline.keys import step_key
from mlcd.pipeline.params import apply_overrides, load_params, select
from mlcd.pipeline.spec import Pipeline, Step, build_pipeline
from mlcd.processes import stop_group

if TYPE_CHECKING:
    from mlcd.workspace import Workspace

DONE = ("succeeded", "cached")


class Reporter(Protocol):
    """Hears about steps as they go; the CLI prints a line for each."""

    def started(self, step: str) -> None: ...

    def finished(self, result: StepResult) -> None: ...


class _Quiet:
    def started(self, step: str) -> None:
        pass

    def finished(self, result: StepResult) -> None:
        pass


@dataclass(frozen=True)
class StepResult:
    step: str
    status: str  # succeeded, cached, failed, skipped, interrupted, nondeterministic
    key: str = ""
    duration: float = 0.0
    outputs: dict[str, StoredPath] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    differing: tuple[str, ...] = ()  # files that differed between two executions
    model: str | None = None  # the model version registered from this step's output


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    steps: tuple[StepResult, ...]

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.status not in (*DONE, "skipped")]


@dataclass(frozen=True)
class RunOptions:
    targets: Sequence[str] = ()
    overrides: Sequence[str] = ()
    seed: int | None = None
    force: bool = False
    jobs: int = 1
    check_determinism: bool = False
    require_clean: bool = False
    command: str = "mlcd run"


def new_run_id() -> str:
    """Sortable and short enough to type: 20261125-190512-a3f9."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]


def load_pipeline(ws: Workspace, overrides: Sequence[str] = ()) -> tuple[Pipeline, dict[str, Any]]:
    params = apply_overrides(load_params(ws.root, ws.state / "cache" / "params.json"), overrides)
    return build_pipeline(ws.config.steps, params), params


def run_pipeline(ws: Workspace, options: RunOptions, reporter: Reporter | None = None) -> RunResult:
    """Run the targets (default: every step) and what they need; see `mlcd run --help`."""
    pipeline, params = load_pipeline(ws, options.overrides)
    order = pipeline.needed(options.targets)
    if not order:
        raise ConfigError("mlcd.yaml declares no steps", hint="add a `steps:` section")
    return _Run(ws, pipeline, params, order, options, reporter or _Quiet()).execute()


class _Run:
    def __init__(
        self,
        ws: Workspace,
        pipeline: Pipeline,
        params: dict[str, Any],
        order: list[str],
        options: RunOptions,
        reporter: Reporter,
    ) -> None:
        from mlcd.pipeline.env import capture_environment_cached
        from mlcd.pipeline.git import capture_git, require_clean

        self.ws = ws
        self.pipeline = pipeline
        self.params = params
        self.order = order
        self.options = options
        self.reporter = reporter
        self.seed = options.seed if options.seed is not None else ws.config.seed
        self.git = self._git(capture_git)
        if options.require_clean:
            require_clean(self.git)
        self.env = capture_environment_cached(ws.state / "cache" / "env.json")
        self.run_id = new_run_id()
        self.dir = ws.state / "runs" / self.run_id
        self.pinned = self._pin_datasets()
        self.cache = StatCache(ws.state / "cache" / "stat.db")
        self.hasher = Hasher(ws.root, self.cache)
        self.results: dict[str, StepResult] = {}
        self.checked: dict[str, list[str]] = {}  # dataset ref -> names of failed checks
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    # -- setup -----------------------------------------------------------------------------

    def _git(self, capture: Any) -> Any:
        """The git state; a repository git refuses (e.g. 'dubious ownership' in CI) is recorded
        as no git, unless a clean commit is required."""
        from mlcd.errors import GitError

        try:
            return capture(self.ws.root)
        except GitError:
            if self.options.require_clean:
                raise
            return None

    def _pin_datasets(self) -> dict[str, dict[str, Any]]:
        """Resolve every dataset input once, now: the run reads exactly these versions."""
        pinned: dict[str, dict[str, Any]] = {}
        for name in self.order:
            for inp in self.pipeline.steps[name].inputs:
                if inp.kind == "dataset" and inp.text not in pinned:
                    v = self.ws.version(f"{inp.name}@{inp.detail}")
                    pinned[inp.text] = {"ref": v.ref, "content_id": v.content_id}
        return pinned

    def execute(self) -> RunResult:
        self.dir.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        with self.ws.db.sql(write=True) as conn:
            records.create_run(conn, self._record(started))
            records.add_inputs(conn, self.run_id, self.pinned)
        status, error = "failed", None
        try:
            self._schedule()
            status = (
                "succeeded" if all(r.status in DONE for r in self.results.values()) else "failed"
            )
            failed = [r for r in self.results.values() if r.status not in (*DONE, "skipped")]
            error = "; ".join(f"{r.step}: {r.error}" for r in failed) or None
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted by the user"
            raise
        except MlcdError as exc:
            error = exc.message
            raise
        finally:
            self._kill_running()
            self.hasher.flush()
            self.cache.close()
            from mlcd.events.log import RUN_FINISHED, emit

            with self.ws.db.sql(write=True) as conn:
                records.finish_run(conn, self.run_id, status, error)
                emit(
                    conn,
                    RUN_FINISHED,
                    self.run_id,
                    {
                        "run": self.run_id,
                        "status": status,
                        "steps": {n: r.status for n, r in self.results.items()},
                    },
                )
        steps = tuple(self.results[s] for s in self.order if s in self.results)
        return RunResult(self.run_id, status, steps)

    def _record(self, started: datetime) -> records.Run:
        return records.Run(
            id=self.run_id,
            status="running",
            started_at=started,
            ended_at=None,
            command=self.options.command,
            targets=list(self.options.targets),
            params=self.params,
            seed=self.seed,
            env=self.env.to_dict(),
            env_lock=self.env.lock_hash,
            git=self.git.to_dict() if self.git else None,
            inputs=self.pinned,
            created_by=current_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            error=None,
        )

    # -- scheduling ------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start every step whose upstream is settled, up to `jobs` processes at a time."""
        jobs = max(1, self.options.jobs)
        pending = list(self.order)
        futures: dict[Future[StepResult], str] = {}
        try:
            with ThreadPoolExecutor(jobs) as pool:
                try:
                    while pending or futures:
                        for name in list(pending):
                            if len(futures) >= jobs:
                                break
                            if all(u in self.results for u in self.pipeline.steps[name].upstream):
                                pending.remove(name)
                                launched = self._start(name, pool)
                                if launched is not None:
                                    futures[launched] = name
                        if futures:
                            done, _ = wait(futures, return_when=FIRST_COMPLETED)
                            for fut in done:
                                del futures[fut]
                                self._finish(fut.result())
                except BaseException:
                    self._kill_running()  # workers wait on these: leaving the pool would hang
                    raise
        except KeyboardInterrupt:
            for name in futures.values():  # recorded with their logs, never cached
                self._finish(StepResult(name, "interrupted", error="interrupted by the user"))
            raise

    def _start(self, name: str, pool: ThreadPoolExecutor) -> Future[StepResult] | None:
        """Key the step; settle it here if skipped or cached, else launch its process."""
        step = self.pipeline.steps[name]
        bad = [u for u in step.upstream if self.results[u].status not in DONE]
        if bad:
            self._finish(StepResult(name, "skipped", error=f"{bad[0]} did not succeed"))
            return None
        try:
            failed_checks = self._check_inputs(step)
            key = self._key(step)
        except MlcdError as exc:
            self._finish(StepResult(name, "failed", error=exc.message))
            return None
        if failed_checks:
            self._finish(StepResult(name, "failed", error=failed_checks))
            return None
        if not self.options.force:
            cached = self._from_cache(step, key)
            if cached is not None:
                self._finish(cached)
                return None
        self.reporter.started(name)
        for path in self._output_paths(step):  # stale files must not leak into new outputs
            remove_path(self.ws.root, path)
        return pool.submit(self._execute, step, key, self.ws.root)

    def _check_inputs(self, step: Step) -> str | None:
        """Run the declared checks of the step's dataset inputs (once per version per run);
        a failure stops the step before it reads bad data. Results are recorded on the run."""
        failures: list[str] = []
        for inp in step.inputs:
            if inp.kind != "dataset" or not self.ws.declared_checks(inp.name):
                continue
            ref = self.pinned[inp.text]["ref"]
            if ref not in self.checked:
                results = self.ws.check_data(ref, run_id=self.run_id)
                self.checked[ref] = [r.name for r in results if r.failed]
            failures += self.checked[ref]
        if not failures:
            return None
        shown = ", ".join(failures[:5]) + (
            f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        )
        return f"data checks failed: {shown} (see `mlcd check data` for values)"

    def _finish(self, result: StepResult) -> None:
        if result.status == "succeeded" and result.key:
            result = self._save(result)
        self.results[result.step] = result
        self._store_record(result)
        self.reporter.finished(result)

    # -- keys and cache --------------------------------------------------------------------

    def _input_ids(self, step: Step) -> dict[str, str | None]:
        ids: dict[str, str | None] = {}
        for inp in step.inputs:
            if inp.kind == "dataset":
                ids[inp.text] = self.pinned[inp.text]["content_id"]
            elif inp.kind == "step":
                ids[inp.text] = self.results[inp.name].outputs[inp.detail].blob
            else:
                content = self.hasher.path(inp.name)
                if content is None:
                    raise StepFailedError(f"input {inp.name!r} of step {step.name} does not exist")
                ids[inp.text] = content
        return ids

    def _key(self, step: Step) -> str:
        return step_key(
            step,
            self.hasher,
            select(self.params, step.params),
            self._input_ids(step),
            self.seed,
            self.env.lock_hash,
        )

    def _output_paths(self, step: Step) -> list[str]:
        return [*step.outputs.values(), *([step.metrics] if step.metrics else [])]

    def _from_cache(self, step: Step, key: str) -> StepResult | None:
        with self.ws.db.sql() as conn:
            hit = records.cache_get(conn, key)
        if hit is None:
            return None
        outputs_raw, metrics = hit
        stored = {name: StoredPath.from_dict(raw) for name, raw in outputs_raw.items()}
        if not all_present(self.ws.store, list(stored.values())):
            return None  # blobs deleted from the store: rerun rather than restore a lie
        t0 = time.perf_counter()
        for s in stored.values():
            restore_path(self.ws.store, self.ws.root, s, self.hasher)
        outputs = {k: v for k, v in stored.items() if not k.startswith("__")}
        return StepResult(step.name, "cached", key, time.perf_counter() - t0, outputs, metrics)

    # -- execution -------------------------------------------------------------------------

    def _context(self, step: Step, tag: str = "") -> tuple[Path, dict[str, str]]:
        datasets = {i.name: self.pinned[i.text]["ref"] for i in step.inputs if i.kind == "dataset"}
        step_inputs = {
            f"{i.name}.{i.detail}": self.pipeline.steps[i.name].outputs[i.detail]
            for i in step.inputs
            if i.kind == "step"
        }
        base = self.dir / f"{step.name}{tag}"
        log_file = base.with_suffix(".log.jsonl")
        log_file.unlink(missing_ok=True)
        ctx = RunContext(
            run_id=self.run_id,
            step=step.name,
            workspace=str(self.ws.root),
            seed=self.seed,
            params=select(self.params, step.params),
            datasets=datasets,
            step_inputs=step_inputs,
            outputs=dict(step.outputs),
            log_file=str(log_file),
        )
        ctx_file = base.with_suffix(".context.json")
        ctx.dump(ctx_file)
        env = {
            **os.environ,
            ENV_CONTEXT: str(ctx_file),
            "MLCD_RUN_ID": self.run_id,
            "MLCD_STEP": step.name,
            "MLCD_SEED": str(self.seed),
            "PYTHONHASHSEED": str(self.seed),
            "MLCD_WORKSPACE": str(self.ws.root),
            "MLCD_PARAMS": json.dumps(ctx.params, default=str),
            # `python` in a step means the interpreter running mlcd, with the same packages
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        for name, ref in datasets.items():
            env[f"MLCD_INPUT_{_env_name(name)}"] = ref
        for name, path in step.outputs.items():
            env[f"MLCD_OUTPUT_{_env_name(name)}"] = path
        return base, env

    def _execute(self, step: Step, key: str, workdir: Path, tag: str = "") -> StepResult:
        """Run the step's process to completion (called in a worker thread)."""
        base, env = self._context(step, tag)
        if step.is_callable:
            argv: list[str] | str = [sys.executable, "-m", "mlcd.pipeline.callable", step.run]
        else:
            argv = step.run
        t0 = time.perf_counter()
        with open(f"{base}.out", "wb") as out, open(f"{base}.err", "wb") as err:
            proc = subprocess.Popen(
                argv,
                shell=isinstance(argv, str),
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: Ctrl-C stops it via killpg
            )
            self.running[step.name + tag] = proc
            code = proc.wait()
            self.running.pop(step.name + tag, None)
        duration = time.perf_counter() - t0
        if code != 0:
            reason = f"exited with code {code}" if code > 0 else f"killed by signal {-code}"
            last = _last_line(Path(f"{base}.err"))
            return StepResult(
                step.name, "failed", key, duration, error=f"{reason}: {last}" if last else reason
            )
        return StepResult(step.name, "succeeded", key, duration)

    def _kill_running(self) -> None:
        for proc in list(self.running.values()):
            if proc.poll() is None:
                stop_group(proc, grace=5)

    def _save(self, result: StepResult) -> StepResult:
        """Store a successful step's outputs and metrics, check determinism, fill the cache."""
        step = self.pipeline.steps[result.step]
        try:
            outputs = {
                n: store_path(self.ws.store, self.ws.root, p, self.hasher)
                for n, p in step.outputs.items()
            }
            metrics = self._metrics(step)
        except MlcdError as exc:
            return StepResult(step.name, "failed", result.key, result.duration, error=exc.message)
        saved = dict(outputs)
        if step.metrics:
            saved["__metrics__"] = store_path(
                self.ws.store, self.ws.root, step.metrics, self.hasher
            )
        if self.options.check_determinism:
            differing = self._rerun_elsewhere(step, result.key, outputs)
            if differing:
                return StepResult(
                    step.name,
                    "nondeterministic",
                    result.key,
                    result.duration,
                    outputs,
                    metrics,
                    error=f"outputs differ between two runs: {', '.join(differing[:5])}",
                    differing=tuple(differing),
                )
        registered = None
        if step.model is not None:
            try:
                registered = self._register(step, outputs, metrics)
            except MlcdError as exc:
                return StepResult(
                    step.name,
                    "failed",
                    result.key,
                    result.duration,
                    outputs,
                    metrics,
                    error=f"registering model {step.model.name!r} failed: {exc.message}",
                )
        with self.ws.db.sql(write=True) as conn:
            records.cache_put(
                conn,
                result.key,
                step.name,
                {n: s.to_dict() for n, s in saved.items()},
                metrics,
                self.run_id,
            )
        return StepResult(
            step.name,
            "succeeded",
            result.key,
            result.duration,
            outputs,
            metrics,
            model=registered,
        )

    def _register(
        self, step: Step, outputs: dict[str, StoredPath], metrics: dict[str, float]
    ) -> str:
        """Register the step's model output, with this run as its lineage."""
        from dataclasses import replace

        from mlcd.registry.register import lineage_of_run, register
        from mlcd.registry.signature import read_example_file

        cfg = step.model
        assert cfg is not None
        output = cfg.output or next(iter(step.outputs))
        lineage = replace(lineage_of_run(self.ws, self.run_id, cfg.datasets), step=step.name)
        example = read_example_file(str(self.ws.root / cfg.example)) if cfg.example else None
        version = register(
            self.ws,
            cfg.name,
            self.ws.root / outputs[output].path,
            flavor=cfg.flavor,
            example=example,
            metrics=metrics,
            description=cfg.description,
            lineage=lineage,
            trust=cfg.trust,
        )
        if cfg.checks:
            results = self.ws.check_model(version.ref, run_id=self.run_id)
            failed = [r.name for r in results if r.failed]
            if failed:
                raise StepFailedError(
                    f"{version.ref} registered, but model checks failed: {', '.join(failed)}",
                    hint=f"see `mlcd check model {version.ref}`",
                )
        return version.ref

    def _metrics(self, step: Step) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for rec in read_log(self.dir / f"{step.name}.log.jsonl"):
            if rec.get("type") == "metric":
                metrics[rec["name"]] = rec["value"]  # the last value logged wins
        if step.metrics:
            path = self.ws.root / step.metrics
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise StepFailedError(f"metrics file {step.metrics!r} was not written") from None
            except json.JSONDecodeError as exc:
                raise StepFailedError(f"metrics file {step.metrics!r} is not JSON: {exc}") from None
            metrics.update(_flatten(raw))
        return metrics

    def _rerun_elsewhere(self, step: Step, key: str, first: dict[str, StoredPath]) -> list[str]:
        """Run the step again in a scratch copy of the workspace; name the files that differ."""
        scratch = self.ws.state / "tmp" / f"determinism-{self.run_id}-{step.name}"
        outputs = set(self._output_paths(step))
        _link_tree(self.ws.root, scratch, skip={".mlcd", ".git", *outputs})
        try:
            second = self._execute(step, key, scratch, tag=".second")
            if second.status != "succeeded":
                return [f"(second run {second.error})"]
            differing: list[str] = []
            plain = Hasher(scratch, _NoCache())
            for stored in first.values():
                before = {p: b for p, b, _ in tree_files(self.ws.store, stored)}
                after = _hash_tree(plain, scratch, stored.path)
                for rel in sorted(before.keys() | after.keys()):
                    if before.get(rel) != after.get(rel) and not self._same_archive(
                        before.get(rel),
                        scratch / stored.path / rel if rel else scratch / stored.path,
                    ):
                        differing.append(f"{stored.path}/{rel}" if rel else stored.path)
            return differing
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _same_archive(self, blob: str | None, second: Path) -> bool:
        """Zip files (skops models) that differ only in entry timestamps are the same output."""
        from mlcd.zips import is_zip, same_members

        if blob is None or not second.is_file():
            return False
        first = self.ws.store.get_bytes(blob)
        return is_zip(first) and is_zip(second) and same_members(first, second)

    def _store_record(self, result: StepResult) -> None:
        logs = {}
        for stream, suffix in (("stdout", ".out"), ("stderr", ".err")):
            path = Path(f"{self.dir / result.step}{suffix}")
            logs[stream] = self.ws.store.put_file(path).blob if path.exists() else None
        logged = read_log(self.dir / f"{result.step}.log.jsonl")
        rec = records.StepRecord(
            step=result.step,
            key=result.key,
            status=result.status,
            started_at=None,
            ended_at=datetime.now(UTC),
            duration=result.duration,
            outputs={n: s.to_dict() for n, s in result.outputs.items()},
            metrics=result.metrics,
            logged=logged,
            stdout=logs["stdout"],
            stderr=logs["stderr"],
            error=result.error,
        )
        with self.ws.db.sql(write=True) as conn:
            records.add_step(conn, self.run_id, rec)


def _last_line(path: Path) -> str:
    """The last non-empty line a step printed to stderr: usually the error itself."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def _flatten(raw: Any, prefix: str = "") -> dict[str, float]:
    """Numbers of a metrics JSON, nested keys joined by dots; other values are ignored."""
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        out[prefix.rstrip(".")] = float(raw)
    return out


def _link_tree(src: Path, dest: Path, skip: Iterable[str]) -> None:
    """A copy of the workspace made of hard links (cheap), without mlcd's state and outputs."""
    skipped = {str(Path(s)) for s in skip}

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(src)
        return {n for n in names if str(rel / n) in skipped or (rel == Path(".") and n in skipped)}

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dest, ignore=ignore, copy_function=link, symlinks=True)


def _hash_tree(hasher: Hasher, root: Path, rel: str) -> dict[str, str]:
    target = root / rel
    if target.is_file():
        return {"": hasher.file(target)}
    if not target.is_dir():
        return {}
    return {
        p.relative_to(target).as_posix(): hasher.file(p)
        for p in sorted(target.rglob("*"))
        if p.is_file()
    }


class _NoCache(StatCache):
    """A stat index that knows nothing: the second run's files are always hashed."""

    def __init__(self) -> None:
        pass

    def blob_of(self, path: str, st: os.stat_result) -> str | None:
        return None

    def remember(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        pass
