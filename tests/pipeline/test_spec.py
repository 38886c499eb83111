"""Pipeline spec: validation errors name the key path; DAG order; what `mlcd run STEP` needs."""

from __future__ import annotations

from typing import Any

import pytest

from mlcd.config import StepConfig
from mlcd.errors import ConfigError, NotFoundError
from mlcd.pipeline.spec import build_pipeline
from tests.pipeline.conftest import Cli, Project

PARAMS = {"prepare": {"scale": 2}, "train": {"lr": 0.1, "opt": {"name": "sgd"}}}


def pipeline(params: dict[str, Any] | None = None, **steps: dict[str, Any]) -> Any:
    configs = {name: StepConfig(**raw) for name, raw in steps.items()}
    return build_pipeline(configs, PARAMS if params is None else params)


def config_error(**steps: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        pipeline(**steps)
    message = info.value.message
    assert "\n" not in message  # one line, printed after `error:`
    return message


# -- a valid pipeline ------------------------------------------------------------------------


def test_steps_parse_into_inputs_params_and_outputs() -> None:
    p = pipeline(
        prepare={
            "run": "python -m proj.prepare",
            "inputs": ["datasets.sales@latest", "datasets.customers@3", "data/raw.csv"],
            "params": ["prepare"],
            "outputs": {"features": "./features/"},
        },
        train={
            "run": "proj.train:main",
            "inputs": ["steps.prepare.features"],
            "params": ["train.lr", "train.opt.name"],
            "outputs": {"model": "model"},
            "metrics": "metrics.json",
            "deps": ["proj/util.py"],
        },
    )
    prepare, train = p.steps["prepare"], p.steps["train"]
    kinds = [(i.kind, i.name, i.detail) for i in prepare.inputs]
    assert kinds == [
        ("dataset", "sales", "latest"),
        ("dataset", "customers", "3"),
        ("path", "data/raw.csv", ""),
    ]
    assert prepare.outputs == {"features": "features"}  # normalised: no ./, no trailing /
    assert not prepare.is_callable and train.is_callable
    assert train.upstream == ["prepare"]
    assert [(i.kind, i.name, i.detail) for i in train.inputs] == [("step", "prepare", "features")]
    assert train.params == ("train.lr", "train.opt.name")
    assert train.metrics == "metrics.json" and train.deps == ("proj/util.py",)


def test_a_dataset_without_version_means_latest() -> None:
    p = pipeline(a={"run": "true", "inputs": ["datasets.sales"]})
    assert p.steps["a"].inputs[0].detail == "latest"


def test_order_is_topological_and_ties_break_by_name() -> None:
    p = pipeline(
        zeta={"run": "true", "outputs": {"z": "z.txt"}},
        alpha={"run": "true", "inputs": ["steps.zeta.z"], "outputs": {"a": "a.txt"}},
        mid={"run": "true", "outputs": {"m": "m.txt"}},
        last={"run": "true", "inputs": ["steps.alpha.a", "steps.mid.m"]},
    )
    assert p.order == ("mid", "zeta", "alpha", "last")
    assert p.needed(["alpha"]) == ["zeta", "alpha"]
    assert p.needed(["last"]) == ["mid", "zeta", "alpha", "last"]
    assert p.needed(["mid", "zeta"]) == ["mid", "zeta"]
    assert p.needed() == list(p.order)
    assert p.downstream("zeta") == {"alpha", "last"}
    assert p.downstream("last") == set()


def test_an_unknown_target_is_named_with_the_known_steps() -> None:
    p = pipeline(a={"run": "true"}, b={"run": "true"})
    with pytest.raises(NotFoundError) as info:
        p.needed(["a", "c"])
    assert info.value.message == "no step 'c' in mlcd.yaml"
    assert info.value.hint is not None and "a, b" in info.value.hint


# -- validation errors -----------------------------------------------------------------------


def test_unknown_step_input() -> None:
    message = config_error(
        prepare={"run": "true", "outputs": {"features": "f/"}},
        train={"run": "true", "inputs": ["steps.prep.features"]},
    )
    assert message == "steps.train.inputs[0]: unknown step 'prep'"


def test_unknown_output_of_a_step() -> None:
    message = config_error(
        prepare={"run": "true", "outputs": {"features": "f/"}},
        train={"run": "true", "inputs": ["data.csv", "steps.prepare.feats"]},
    )
    assert message == "steps.train.inputs[1]: step 'prepare' has no output 'feats'"


@pytest.mark.parametrize(
    "text",
    [
        "datasets.sales@v2",
        "datasets.sales@0",
        "datasets.sales@-1",
        "datasets.",
        "steps.prepare",
        "steps.prepare.features.extra",
    ],
)
def test_bad_input_syntax(text: str) -> None:
    message = config_error(
        prepare={"run": "true", "outputs": {"features": "f/"}},
        train={"run": "true", "inputs": ["ok.csv", text]},
    )
    assert message.startswith(f"steps.train.inputs[1]: {text!r} is not ")


def test_a_cycle_is_named() -> None:
    message = config_error(
        a={"run": "true", "inputs": ["steps.c.out"], "outputs": {"out": "a"}},
        b={"run": "true", "inputs": ["steps.a.out"], "outputs": {"out": "b"}},
        c={"run": "true", "inputs": ["steps.b.out"], "outputs": {"out": "c"}},
    )
    assert message == "steps: cycle a -> c -> b -> a"


def test_a_cycle_is_named_without_the_steps_that_merely_hang_off_it() -> None:
    message = config_error(
        a={"run": "true", "inputs": ["steps.b.out"], "outputs": {"out": "a"}},
        b={"run": "true", "inputs": ["steps.c.out"], "outputs": {"out": "b"}},
        c={"run": "true", "inputs": ["steps.b.out"], "outputs": {"out": "c"}},
    )
    assert message == "steps: cycle b -> c -> b"


def test_a_step_reading_its_own_output_is_a_cycle() -> None:
    message = config_error(a={"run": "true", "inputs": ["steps.a.out"], "outputs": {"out": "a"}})
    assert message == "steps: cycle a -> a"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("out/", "out"),
        ("./out", "out/"),
        ("out", "out/model.pkl"),
        ("out/sub/x.csv", "out/sub"),
    ],
)
def test_overlapping_outputs_of_two_steps(first: str, second: str) -> None:
    message = config_error(
        a={"run": "true", "outputs": {"x": first}},
        b={"run": "true", "outputs": {"y": second}},
    )
    assert message.startswith("steps.b.outputs.y: ")
    assert "overlaps" in message and "steps.a.outputs.x" in message


def test_two_outputs_of_one_step_may_not_share_a_path() -> None:
    message = config_error(a={"run": "true", "outputs": {"x": "out.csv", "y": "out.csv"}})
    assert message.startswith("steps.a.outputs.y: 'out.csv' overlaps")


def test_siblings_with_a_common_prefix_do_not_overlap() -> None:
    p = pipeline(
        a={"run": "true", "outputs": {"x": "out"}},
        b={"run": "true", "outputs": {"y": "out2"}},
        c={"run": "true", "outputs": {"z": "outs/out"}},
    )
    assert set(p.steps) == {"a", "b", "c"}


def test_a_metrics_file_is_an_output_too() -> None:
    # both steps would write metrics.json: whichever ran (or was restored) last would win
    message = config_error(
        a={"run": "true", "metrics": "metrics.json"},
        b={"run": "true", "metrics": "metrics.json"},
    )
    assert message.startswith("steps.b.metrics: 'metrics.json' overlaps")
    message = config_error(
        a={"run": "true", "outputs": {"model": "model/"}},
        b={"run": "true", "metrics": "model/metrics.json"},
    )
    assert message.startswith("steps.b.metrics: 'model/metrics.json' overlaps")
    # in the step's own output folder it is that step's file
    p = pipeline(a={"run": "true", "outputs": {"model": "model/"}, "metrics": "model/m.json"})
    assert p.steps["a"].metrics == "model/m.json"


def test_a_missing_params_key() -> None:
    message = config_error(train={"run": "true", "params": ["train.lr", "train.momentum"]})
    assert message == "steps.train.params: 'train.momentum' is not in params.yaml"
    with pytest.raises(ConfigError, match=r"steps.a.params: 'train' is not in params.yaml"):
        pipeline({}, a={"run": "true", "params": ["train"]})
    # a key below a value that is not a mapping does not exist either
    with pytest.raises(ConfigError, match=r"'train.lr.x' is not in params.yaml"):
        pipeline(a={"run": "true", "params": ["train.lr.x"]})


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("outputs", {"model": "/tmp/model"}, "steps.a.outputs.model"),
        ("outputs", {"model": "../model"}, "steps.a.outputs.model"),
        ("outputs", {"model": "out/../../model"}, "steps.a.outputs.model"),
        ("outputs", {"model": ""}, "steps.a.outputs.model"),
        ("metrics", "/etc/metrics.json", "steps.a.metrics"),
        ("deps", ["ok.py", "../lib.py"], "steps.a.deps[1]"),
        ("inputs", ["/data/raw.csv"], "steps.a.inputs[0]"),
    ],
)
def test_paths_must_stay_inside_the_workspace(field: str, value: Any, where: str) -> None:
    message = config_error(a={"run": "true", field: value})
    assert message.startswith(f"{where}: ")
    assert message.endswith("must be a relative path inside the workspace")


def test_paths_may_not_point_into_mlcd_or_git_state() -> None:
    message = config_error(a={"run": "true", "outputs": {"x": ".mlcd/objects"}})
    assert message == "steps.a.outputs.x: '.mlcd/objects' is inside .mlcd/, which mlcd manages"
    message = config_error(a={"run": "true", "outputs": {"x": ".git/hooks/pre-commit"}})
    assert "is inside .git/" in message


# -- through the workspace and the CLI -------------------------------------------------------


def test_errors_in_mlcd_yaml_name_the_key(bare: Project, cli: Cli) -> None:
    bare.configure({"a": {"run": "true", "outptus": {"x": "x.txt"}}})
    result = cli("dag")
    assert result.code == 1
    assert "steps.a.outptus: unknown key" in result.err
    bare.configure({"a": {"inputs": ["x.txt"]}})
    result = cli("dag")
    assert result.code == 1 and "steps.a.run: required key is missing" in result.err
    bare.configure({"a": {"run": "  "}})
    assert "steps.a.run: expected a shell command" in cli("dag").err


def test_cli_prints_a_spec_error_in_one_line(bare: Project, cli: Cli) -> None:
    bare.configure(
        {
            "a": {"run": "true", "outputs": {"o": "o.txt"}},
            "b": {"run": "true", "inputs": ["steps.z.o"]},
        }
    )
    for args in (("dag",), ("run",)):
        result = cli(*args)
        assert result.code == 1
        lines = result.err.strip().splitlines()
        assert lines[0] == "error: steps.b.inputs[0]: unknown step 'z'", result.err
        assert lines[1:] == ["hint: steps: a, b"]


def test_cli_refuses_a_missing_params_key(bare: Project, cli: Cli) -> None:
    bare.configure({"a": {"run": "true", "params": ["train.lr"]}})
    result = cli("run")
    assert result.code == 1
    assert result.err.startswith("error: steps.a.params: 'train.lr' is not in params.yaml")
    assert bare.ws().runs() == []


def test_unknown_target_of_mlcd_run(project: Project, cli: Cli) -> None:
    result = cli("run", "train", "nope")
    assert result.code == 1
    assert result.err.splitlines()[0] == "error: no step 'nope' in mlcd.yaml"
    assert "notes, prepare, train, report" in result.err
    assert len(project.ws().runs()) == 1  # only the project's first run: nothing started


def test_mlcd_run_step_runs_it_and_what_it_needs(project: Project, cli: Cli) -> None:
    result = cli("run", "train", "--json")
    data = result.json()
    assert [s["step"] for s in data["steps"]] == ["prepare", "train"]
    assert project.ws().get_run("latest").targets == ["train"]


def test_an_empty_pipeline_is_an_error(bare: Project, cli: Cli) -> None:
    result = cli("run")
    assert result.code == 1 and "mlcd.yaml declares no steps" in result.err
    assert cli("dag").out.strip() == "no steps in mlcd.yaml"


def test_dag_prints_steps_in_run_order(project: Project, cli: Cli) -> None:
    result = cli("dag")
    assert result.code == 0, result.err
    names = [line for line in result.out.splitlines() if line and not line.startswith(" ")]
    assert names == ["notes", "prepare", "train  <- prepare", "report  <- train"]
    assert "    run: proj.train:main" in result.out
    assert "    in:  datasets.sales@latest" in result.out
    assert "    out: features -> features" in result.out


def test_dag_json(project: Project, cli: Cli) -> None:
    data = cli("dag", "--json").json()
    assert [s["step"] for s in data] == ["notes", "prepare", "train", "report"]
    by_name = {s["step"]: s for s in data}
    assert by_name["report"] == {
        "step": "report",
        "run": "python report.py",
        "needs": ["train"],
        "inputs": ["steps.train.model", "notes.md"],
        "outputs": {"report": "report.txt"},
    }
    assert by_name["prepare"]["needs"] == [] and by_name["train"]["needs"] == ["prepare"]


def test_a_dataset_that_does_not_exist_stops_the_run_before_it_starts(
    bare: Project, cli: Cli
) -> None:
    bare.configure({"a": {"run": "true", "inputs": ["datasets.nosuch@latest"]}})
    result = cli("run")
    assert result.code == 1
    assert result.err.startswith("error: ") and "nosuch" in result.err.splitlines()[0]
    assert "Traceback" not in result.err
    assert bare.ws().runs() == []
