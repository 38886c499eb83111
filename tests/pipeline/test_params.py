"""Params: params.yaml, typed `--set` overrides, what each step sees, and what a run records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlcd.errors import ConfigError
from mlcd.pipeline.params import apply_overrides, load_params, lookup, select
from tests.pipeline.conftest import PARAMS, Cli, Project, statuses


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("train.lr=0.1", "lr", 0.1),
        ("train.lr=1e-3", "lr", 0.001),
        ("train.lr=-2.5E2", "lr", -250.0),
        ("train.epochs=10", "epochs", 10),
        ("train.use_bias=false", "use_bias", False),
        ("train.use_bias=true", "use_bias", True),
        ("train.layers=[8, 4, 2]", "layers", [8, 4, 2]),
        ("train.layers={a: 1}", "layers", {"a": 1}),
        ("train.lr=null", "lr", None),
        ("train.lr=adam", "lr", "adam"),
        ("train.lr='0.1'", "lr", "0.1"),  # quoted: the text, as in YAML
        ('train.lr="1e-3"', "lr", "1e-3"),
        ("train.lr=", "lr", ""),
        ("train.lr=a=b", "lr", "a=b"),  # only the first `=` separates key and value
        ("train.lr=[unclosed", "lr", "[unclosed"),  # not YAML: kept as text
    ],
)
def test_overrides_are_typed_like_yaml(override: str, key: str, expected: Any) -> None:
    result = apply_overrides(PARAMS, [override])
    value = result["train"][key]
    assert value == expected
    assert type(value) is type(expected)


def test_overrides_leave_the_original_and_other_keys_alone() -> None:
    result = apply_overrides(PARAMS, ["train.lr=0.5", "train.lr=0.7", "prepare.scale=3"])
    assert result["train"] == {**PARAMS["train"], "lr": 0.7}  # the last one wins
    assert result["prepare"] == {"scale": 3}
    assert PARAMS["train"]["lr"] == 0.01  # a copy was changed, not the mapping given
    assert apply_overrides(PARAMS, []) == PARAMS


def test_a_whole_section_can_be_replaced() -> None:
    assert apply_overrides(PARAMS, ["prepare={scale: 5}"])["prepare"] == {"scale": 5}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.momentum=0.9", "--set train.momentum: no such key in params.yaml"),
        ("nope=1", "--set nope: no such key in params.yaml"),
        ("train.lr.inner=1", "--set train.lr.inner: no such key in params.yaml"),
        ("train.lr", "--set 'train.lr': expected KEY=VALUE, e.g. --set train.lr=0.1"),
        ("=1", "--set '=1': expected KEY=VALUE, e.g. --set train.lr=0.1"),
    ],
)
def test_unknown_or_malformed_overrides_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(PARAMS, [override])
    assert info.value.message == message


def test_lookup_and_select() -> None:
    assert lookup(PARAMS, "train.layers") == [4, 2]
    assert select(PARAMS, ["prepare", "train.lr"]) == {"prepare": {"scale": 2}, "train.lr": 0.01}


def test_load_params(tmp_path: Path) -> None:
    assert load_params(tmp_path) == {}  # no params.yaml
    (tmp_path / "params.yaml").write_text("")
    assert load_params(tmp_path) == {}
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n")
    assert load_params(tmp_path) == {"train": {"lr": 0.1}}
    (tmp_path / "params.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: expected a mapping of keys, got list"):
        load_params(tmp_path)
    (tmp_path / "params.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml is not valid YAML"):
        load_params(tmp_path)


# -- in runs ---------------------------------------------------------------------------------


def test_an_override_reaches_the_step_and_is_recorded(project: Project) -> None:
    result = project.run(overrides=["train.lr=0.1", "train.epochs=2", "train.layers=[8]"])
    assert result.status == "succeeded"
    train = next(s for s in result.steps if s.step == "train")
    assert train.metrics["eval.lr"] == 0.1  # the step wrote what mlcd.params() gave it
    assert train.metrics["loss"] == 0.5  # two epochs: the last logged loss is 1/2
    run = project.ws().get_run(result.run_id)
    assert run.params["train"] == {"lr": 0.1, "epochs": 2, "use_bias": True, "layers": [8]}
    assert run.params["prepare"] == {"scale": 2}  # everything is recorded, not only overrides
    weights = json.loads((project.root / "model" / "weights.json").read_text())
    assert weights["layers"] == [8]
    # without the overrides the params.yaml values come back, and so does the cached model
    again = project.run()
    assert statuses(again)["train"] == "cached"
    assert project.ws().get_run(again.run_id).params["train"]["lr"] == 0.01
    assert json.loads((project.root / "model" / "weights.json").read_text())["layers"] == [4, 2]


def test_an_override_reruns_only_the_steps_that_read_it(project: Project) -> None:
    result = project.run(overrides=["report.title=monthly"])
    assert statuses(result) == {
        "notes": "cached",
        "prepare": "cached",
        "train": "cached",
        "report": "succeeded",
    }
    result = project.run("prepare", overrides=["prepare.scale=3"])
    assert statuses(result) == {"prepare": "succeeded"}
    assert json.loads((project.root / "features" / "amounts.json").read_text())[0] > 0


def test_an_unknown_key_fails_the_run_before_it_starts(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"--set train\.momentum: no such key"):
        project.run(overrides=["train.momentum=0.9"])
    assert [r.id for r in project.ws().runs()] == [project.first_run]


def test_cli_set(project: Project, cli: Cli) -> None:
    result = cli("run", "notes", "--set", "train.lr=0.25", "-s", "train.use_bias=no", "--json")
    data = result.json()
    assert [s["status"] for s in data["steps"]] == ["cached"]  # notes reads no train params
    shown = cli("runs", "show", data["run_id"], "--json").json()
    assert shown["params"]["train"]["lr"] == 0.25
    assert shown["params"]["train"]["use_bias"] is False  # YAML 1.1: `no` is false


def test_cli_refuses_an_unknown_key(project: Project, cli: Cli) -> None:
    result = cli("run", "--set", "train.momentum=0.9")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: --set train.momentum: no such key in params.yaml",
        "hint: add train.momentum to params.yaml first, so every run records it",
    ]


def test_cached_params_follow_every_edit(tmp_path: Path) -> None:
    from mlcd.pipeline.params import load_params

    cache = tmp_path / "cache" / "params.json"
    (tmp_path / "params.yaml").write_text("train: {lr: 0.1, epochs: 3}\n")
    assert load_params(tmp_path, cache) == {"train": {"lr": 0.1, "epochs": 3}}
    assert cache.exists()
    assert load_params(tmp_path, cache) == load_params(tmp_path)
    (tmp_path / "params.yaml").write_text("train: {lr: 0.2, epochs: 3}\n")
    assert load_params(tmp_path, cache)["train"]["lr"] == 0.2
    (tmp_path / "params.yaml").write_text("when: 2024-01-02\n")  # a date: not cached as text
    assert str(load_params(tmp_path, cache)["when"]) == "2024-01-02"
    assert load_params(tmp_path, cache) == load_params(tmp_path)
