"""mlcd.yaml is validated once per content: a cached config equals a validated one, and any
edit (or a broken file) is validated again."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcd.config import load_config, load_config_cached
from mlcd.errors import ConfigError

YAML = """project: p
seed: 3
datasets:
  sales: {source: data/, checks: [{column: a, min: 0}]}
steps:
  train:
    run: python train.py
    outputs: {model: model/}
    model: {name: churn, checks: [beats_baseline], validation: v.parquet, target: y}
"""


def test_cached_config_equals_the_validated_one(tmp_path: Path) -> None:
    path, cache = tmp_path / "mlcd.yaml", tmp_path / ".mlcd" / "cache" / "config.json"
    path.write_text(YAML)
    first = load_config_cached(path, cache)
    assert cache.exists()
    second = load_config_cached(path, cache)  # from the cache this time
    assert second == first == load_config(path)
    assert second.steps["train"].model is not None
    assert second.steps["train"].model.checks == ["beats_baseline"]
    assert second.datasets["sales"].checks == [{"column": "a", "min": 0}]


def test_an_edit_is_validated_again(tmp_path: Path) -> None:
    path, cache = tmp_path / "mlcd.yaml", tmp_path / "cache.json"
    path.write_text(YAML)
    load_config_cached(path, cache)
    path.write_text(YAML.replace("seed: 3", "seed: 4"))
    assert load_config_cached(path, cache).seed == 4
    path.write_text(YAML.replace("seed: 3", "seed: many"))
    with pytest.raises(ConfigError, match="seed"):
        load_config_cached(path, cache)


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    path, cache = tmp_path / "mlcd.yaml", tmp_path / "cache.json"
    path.write_text(YAML)
    cache.write_text("{not json")
    assert load_config_cached(path, cache).project == "p"


def test_the_schema_and_the_dataclasses_declare_the_same_fields() -> None:
    """The pydantic schema validates, the dataclasses run: a field added to one only would
    crash every command on a new mlcd.yaml."""
    from dataclasses import fields

    import mlcd.config as runtime
    import mlcd.config_schema as schema

    for name in ("MlcdConfig", "DatasetConfig", "StepConfig", "ModelConfig"):
        declared = [f.name for f in fields(getattr(runtime, name))]
        assert declared == list(getattr(schema, name).model_fields), name
