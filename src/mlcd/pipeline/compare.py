"""What differs between two runs: params, metrics, pinned inputs, environment, code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcd.pipeline.records import Run


@dataclass(frozen=True)
class Change:
    key: str
    a: Any
    b: Any


@dataclass(frozen=True)
class RunComparison:
    a: str
    b: str
    params: list[Change]
    metrics: list[Change]
    inputs: list[Change]
    seed: Change | None
    git: Change | None
    env_added: dict[str, str]
    env_removed: dict[str, str]
    env_changed: dict[str, tuple[str, str]]

    def to_dict(self) -> dict[str, Any]:
        def rows(changes: list[Change]) -> list[dict[str, Any]]:
            return [{"key": c.key, "a": c.a, "b": c.b} for c in changes]

        return {
            "a": self.a,
            "b": self.b,
            "params": rows(self.params),
            "metrics": rows(self.metrics),
            "inputs": rows(self.inputs),
            "seed": None if self.seed is None else {"a": self.seed.a, "b": self.seed.b},
            "git": None if self.git is None else {"a": self.git.a, "b": self.git.b},
            "env": {
                "added": self.env_added,
                "removed": self.env_removed,
                "changed": {k: list(v) for k, v in self.env_changed.items()},
            },
        }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


def _changes(a: dict[str, Any], b: dict[str, Any], all_keys: bool = False) -> list[Change]:
    keys = sorted(a.keys() | b.keys())
    return [Change(k, a.get(k), b.get(k)) for k in keys if all_keys or a.get(k) != b.get(k)]


def compare_runs(a: Run, b: Run) -> RunComparison:
    from mlcd.pipeline.env import Environment, diff_environments

    env = diff_environments(Environment.from_dict(a.env), Environment.from_dict(b.env))
    commit_a = (a.git or {}).get("commit")
    commit_b = (b.git or {}).get("commit")
    return RunComparison(
        a=a.id,
        b=b.id,
        params=_changes(flatten(a.params), flatten(b.params)),
        metrics=_changes(a.metrics, b.metrics, all_keys=True),
        inputs=_changes(
            {k: v["ref"] for k, v in a.inputs.items()}, {k: v["ref"] for k, v in b.inputs.items()}
        ),
        seed=Change("seed", a.seed, b.seed) if a.seed != b.seed else None,
        git=Change("commit", commit_a, commit_b) if commit_a != commit_b else None,
        env_added=dict(env.added),
        env_removed=dict(env.removed),
        env_changed={k: (v[0], v[1]) for k, v in env.changed.items()},
    )
