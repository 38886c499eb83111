import re
from pathlib import Path

import pytest

from mlcd.config import is_database_url, load_config
from mlcd.errors import ConfigError, WorkspaceNotFoundError
from mlcd.workspace import Workspace


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mlcd.yaml"
    path.write_text(text)
    return path


def test_init_template_parses_with_defaults(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "proj")
    assert ws.config.project == "proj"
    assert ws.config.store == ".mlcd/objects"
    assert ws.config.metadata.startswith("sqlite:///")
    assert "/.mlcd/" in (tmp_path / "proj" / ".gitignore").read_text()


def test_full_config(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            "project: churn\nseed: 7\ndatasets:\n  sales:\n    source: data/sales/\n"
            "  ops:\n    source: sqlite:///ops.db\n    table: orders\non:\n  x: y\n",
        )
    )
    assert cfg.seed == 7
    assert cfg.datasets["sales"].source == "data/sales/"
    assert cfg.datasets["ops"].table == "orders"
    assert cfg.on == {"x": "y"}  # a bare `on:` is YAML 1.1's boolean true


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: p\nbogus: 1\n", "bogus: unknown key"),
        ("project: p\nseed: many\n", "seed:"),
        ("seed: 1\n", "project: required key is missing"),
        ("project: p\ndatasets:\n  sales:\n    source: ''\n", "datasets.sales.source: expected"),
        ("project: p\ndatasets:\n  sales:\n    sorce: x\n", "datasets.sales.sorce: unknown key"),
        ("project: p\ndatasets:\n  sales:\n    source: [1]\n", "datasets.sales.source"),
        ("project: p\ndatasets:\n  sales:\n    source: d/\n    query: x\n", "datasets.sales:"),
        ("project: p\ndatasets:\n  ../x:\n    source: d/\n", "invalid dataset name"),
        ("project: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_config_errors_name_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert expected in exc.value.message


def test_find_walks_up_like_git(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "proj")
    deep = tmp_path / "proj" / "a" / "b"
    deep.mkdir(parents=True)
    assert Workspace.find(deep).root == tmp_path / "proj"
    with pytest.raises(WorkspaceNotFoundError) as exc:
        Workspace.find(tmp_path)
    assert "mlcd init" in (exc.value.hint or "")


def test_init_twice_is_an_error(tmp_path: Path) -> None:
    Workspace.init(tmp_path)
    with pytest.raises(ConfigError):
        Workspace.init(tmp_path)


def test_database_urls() -> None:
    assert is_database_url("sqlite:///ops.db")
    assert is_database_url("postgresql+psycopg://u@h/db")
    assert not is_database_url("data/sales")
    assert not is_database_url("s3://bucket/x")


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "mlcd.yaml"
    path.write_bytes(b"project: c\xff\n")
    with pytest.raises(ConfigError, match=r"mlcd.yaml is not valid UTF-8 \(byte offset 10: 0xff\)"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("off: 1\n", "(top level): YAML reads the key 'off' as a boolean"),
        ("datasets:\n  no:\n    source: x\n", "datasets: YAML reads the key 'no' as a boolean"),
        ("datasets:\n  2024: {source: x}\n", "datasets: YAML reads the key '2024' as a number"),
        ("steps:\n  a:\n    run: x\n    outputs: {1: y}\n", "steps.a.outputs: YAML reads"),
    ],
)
def test_keys_yaml_reads_as_booleans_or_numbers(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        load_config(write(tmp_path, "project: p\n" + text))
    assert (info.value.hint or "").startswith("quote it")


def test_a_bare_on_is_still_the_on_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed: Input should be a valid integer"):
        load_config(write(tmp_path, "project: p\non:\n  x: y\nseed: x\n"))


def test_a_key_given_twice_is_refused_not_last_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "project: p\nseed: 1\ndatasets:\n  a: {source: x}\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"line 5 .*the key 'seed' is given twice"):
        load_config(path)
    nested = write(tmp_path, "project: p\ndatasets:\n  a: {source: x, source: y}\n")
    with pytest.raises(ConfigError, match="'source' is given twice"):
        load_config(nested)


def test_a_boolean_seed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed: Input should be a valid integer"):
        load_config(write(tmp_path, "project: p\nseed: true\n"))


def test_params_yaml_refuses_a_key_given_twice(tmp_path: Path) -> None:
    from mlcd.pipeline.params import load_params

    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match="'lr' is given twice"):
        load_params(tmp_path, tmp_path / "cache.json")
