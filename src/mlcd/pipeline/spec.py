"""A pipeline from mlcd.yaml: steps, their inputs and outputs, validated, in DAG order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from mlcd.config import ModelConfig, StepConfig
from mlcd.errors import ConfigError, NotFoundError
from mlcd.pipeline.params import PARAMS_FILE, has

_CALLABLE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_DATASET = re.compile(r"datasets\.([A-Za-z0-9][\w.-]*?)(?:@(latest|[1-9]\d*))?")
_STEP_OUTPUT = re.compile(r"steps\.([A-Za-z0-9][\w-]*)\.([A-Za-z0-9][\w-]*)")


@dataclass(frozen=True)
class Input:
    """One input of a step: a dataset version, another step's output, or a path in the repo."""

    kind: Literal["dataset", "step", "path"]
    text: str
    name: str  # dataset name, producing step, or the path
    detail: str = ""  # dataset version ('latest', '7') or the output name


@dataclass(frozen=True)
class Step:
    name: str
    run: str
    inputs: tuple[Input, ...]
    params: tuple[str, ...]
    outputs: dict[str, str]
    metrics: str | None
    deps: tuple[str, ...]
    model: ModelConfig | None = None

    @property
    def is_callable(self) -> bool:
        """True for a Python `module:function` step, False for a shell command."""
        return bool(_CALLABLE.fullmatch(self.run.strip()))

    @property
    def upstream(self) -> list[str]:
        return sorted({i.name for i in self.inputs if i.kind == "step"})

    def definition(self) -> dict[str, Any]:
        """What of the step's own text goes into its cache key."""
        return {
            "run": self.run,
            "inputs": [i.text for i in self.inputs],
            "params": list(self.params),
            "outputs": self.outputs,
            "metrics": self.metrics,
            "deps": list(self.deps),
        }


@dataclass(frozen=True)
class Pipeline:
    steps: dict[str, Step]
    order: tuple[str, ...] = field(default=())

    def needed(self, targets: Iterable[str] = ()) -> list[str]:
        """The targets and everything they depend on, in run order (all steps when empty)."""
        targets = list(targets)
        if not targets:
            return list(self.order)
        for t in targets:
            if t not in self.steps:
                raise NotFoundError(
                    f"no step {t!r} in mlcd.yaml",
                    hint=f"steps: {', '.join(self.order) or 'none yet'}",
                )
        wanted: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self.steps[name].upstream)
        return [s for s in self.order if s in wanted]

    def downstream(self, name: str) -> set[str]:
        """Every step that depends on `name`, directly or not."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {s for s, step in self.steps.items() if set(step.upstream) & frontier}
            frontier -= found
            found |= frontier
        return found


def build_pipeline(steps: Mapping[str, StepConfig], params: Mapping[str, Any]) -> Pipeline:
    """Validate the steps of mlcd.yaml and order them; errors name the key path."""
    parsed = {name: _parse(name, cfg, params) for name, cfg in steps.items()}
    _check_references(parsed)
    _check_outputs(parsed)
    return Pipeline(parsed, tuple(_order(parsed)))


def _parse(name: str, cfg: StepConfig, params: Mapping[str, Any]) -> Step:
    inputs = tuple(_parse_input(f"steps.{name}.inputs[{i}]", t) for i, t in enumerate(cfg.inputs))
    for key in cfg.params:
        if not has(params, key):
            raise ConfigError(
                f"steps.{name}.params: {key!r} is not in {PARAMS_FILE}",
                hint=f"add {key} to {PARAMS_FILE} or remove it from the step",
            )
    for out_name, path in cfg.outputs.items():
        _check_path(f"steps.{name}.outputs.{out_name}", path)
    if cfg.metrics:
        _check_path(f"steps.{name}.metrics", cfg.metrics)
    for i, dep in enumerate(cfg.deps):
        _check_path(f"steps.{name}.deps[{i}]", dep)
    if cfg.model is not None:
        _check_model(name, cfg.model, cfg.outputs)
    return Step(
        name=name,
        run=cfg.run,
        inputs=inputs,
        params=tuple(cfg.params),
        outputs={k: _normal(v) for k, v in cfg.outputs.items()},
        metrics=_normal(cfg.metrics) if cfg.metrics else None,
        deps=tuple(_normal(d) for d in cfg.deps),
        model=cfg.model,
    )


def _check_model(name: str, model: ModelConfig, outputs: Mapping[str, str]) -> None:
    where = f"steps.{name}.model"
    if model.output is None and len(outputs) != 1:
        raise ConfigError(
            f"{where}: say which output holds the model (output: NAME)",
            hint=f"outputs: {', '.join(outputs) or 'none'}",
        )
    if model.output is not None and model.output not in outputs:
        raise ConfigError(
            f"{where}.output: {model.output!r} is not an output of the step",
            hint=f"outputs: {', '.join(outputs) or 'none'}",
        )
    if model.example:
        _check_path(f"{where}.example", model.example)
    if model.checks and not (model.validation and model.target):
        raise ConfigError(
            f"{where}.checks: model checks need held-out data",
            hint="add validation: PATH (.parquet/.csv written by the step) and target: COLUMN",
        )
    if model.validation:
        _check_path(f"{where}.validation", model.validation)


def _parse_input(where: str, text: str) -> Input:
    if text.startswith("datasets."):
        m = _DATASET.fullmatch(text)
        if not m:
            raise ConfigError(f"{where}: {text!r} is not datasets.NAME or datasets.NAME@VERSION")
        return Input("dataset", text, m.group(1), m.group(2) or "latest")
    if text.startswith("steps."):
        m = _STEP_OUTPUT.fullmatch(text)
        if not m:
            raise ConfigError(f"{where}: {text!r} is not steps.STEP.OUTPUT")
        return Input("step", text, m.group(1), m.group(2))
    _check_path(where, text)
    return Input("path", text, _normal(text))


def _check_path(where: str, path: str) -> None:
    p = PurePosixPath(path)
    if not path.strip() or p.is_absolute() or ".." in p.parts:
        raise ConfigError(f"{where}: {path!r} must be a relative path inside the workspace")
    if p.parts and p.parts[0] in (".mlcd", ".git"):
        raise ConfigError(f"{where}: {path!r} is inside {p.parts[0]}/, which mlcd manages")


def _normal(path: str) -> str:
    return str(PurePosixPath(path))


def _check_references(steps: dict[str, Step]) -> None:
    for step in steps.values():
        for i, inp in enumerate(step.inputs):
            if inp.kind != "step":
                continue
            where = f"steps.{step.name}.inputs[{i}]"
            producer = steps.get(inp.name)
            if producer is None:
                raise ConfigError(
                    f"{where}: unknown step {inp.name!r}",
                    hint=f"steps: {', '.join(sorted(steps))}",
                )
            if inp.detail not in producer.outputs:
                raise ConfigError(
                    f"{where}: step {inp.name!r} has no output {inp.detail!r}",
                    hint=f"its outputs: {', '.join(producer.outputs) or 'none'}",
                )


def _check_outputs(steps: dict[str, Step]) -> None:
    # a metrics file is written, stored and restored like an output: no other step may write
    # it (inside its own step's output folder is fine)
    written = [(s, f"steps.{s}.outputs.{n}", p) for s in steps for n, p in steps[s].outputs.items()]
    written += [
        (s, f"steps.{s}.metrics", steps[s].metrics or "") for s in steps if steps[s].metrics
    ]
    owner: dict[str, tuple[str, str]] = {}
    for name, key, path in written:
        for other_path, (other_step, other) in owner.items():
            if key.endswith(".metrics") and other_step == name:
                continue
            a, b = PurePosixPath(path), PurePosixPath(other_path)
            if a == b or a in b.parents or b in a.parents:
                raise ConfigError(
                    f"{key}: {path!r} overlaps {other_path!r}, an output of {other}",
                    hint="every output path belongs to exactly one step",
                )
        owner[path] = (name, key)


def _order(steps: dict[str, Step]) -> list[str]:
    """Topological order, ties broken by name so the order is stable; a cycle is named."""
    remaining = {name: set(step.upstream) for name, step in steps.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if not deps)
        if not ready:
            raise ConfigError(f"steps: cycle {' -> '.join(_find_cycle(remaining))}")
        for n in ready:
            del remaining[n]
            order.append(n)
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    start = sorted(graph)[0]
    path: list[str] = []
    node = start
    while node not in path:
        path.append(node)
        node = sorted(graph[node])[0]
    return [*path[path.index(node) :], node]
