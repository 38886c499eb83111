"""Parameters: params.yaml, typed `--set key=value` overrides, and each step's slice of them."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlcd.errors import ConfigError

PARAMS_FILE = "params.yaml"
_MISSING = object()
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def load_params(root: Path, cache: Path | None = None) -> dict[str, Any]:
    """The workspace's params.yaml as a mapping ({} when there is none).

    With `cache`, a parse is kept as JSON by the file's hash: importing the YAML parser is
    a noticeable share of a no-op `mlcd run`.
    """
    path = root / PARAMS_FILE
    if not path.exists():
        return {}
    if cache is not None:
        return _cached(path, cache)
    return _parse(path)


def _cached(path: Path, cache: Path) -> dict[str, Any]:
    import json

    from blake3 import blake3

    from mlcd import jsoncache

    key = blake3(path.read_bytes()).hexdigest()
    cached = jsoncache.read(cache, key)
    if isinstance(cached, dict):
        return cached
    data = _parse(path)
    try:
        if json.loads(json.dumps(data)) == data:  # only what JSON keeps exactly (no dates)
            jsoncache.write(cache, key, data)
    except (TypeError, ValueError):
        pass
    return data


def _parse(path: Path) -> dict[str, Any]:
    import yaml

    from mlcd.config import load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{PARAMS_FILE} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{PARAMS_FILE}: expected a mapping of keys, got {type(data).__name__}")
    return data


def lookup(params: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key (`train.lr`), or _MISSING."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def has(params: Mapping[str, Any], key: str) -> bool:
    return lookup(params, key) is not _MISSING


def apply_overrides(params: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply `key=value` overrides; values are typed the YAML way (0.1, true, [1, 2], text)."""
    result = copy.deepcopy(dict(params))
    for item in overrides:
        import yaml  # only when there is something to parse

        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.lr=0.1")
        if not has(result, key):
            raise ConfigError(
                f"--set {key}: no such key in {PARAMS_FILE}",
                hint=f"add {key} to {PARAMS_FILE} first, so every run records it",
            )
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and _EXPONENT.fullmatch(raw.strip()):
            value = float(value)  # YAML 1.1 reads `1e-3` as text: a learning rate is a number
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            node = node[part]
        node[leaf] = value
    return result


def select(params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A step's params: each declared key (dotted or top-level) with its value."""
    return {key: lookup(params, key) for key in keys}
