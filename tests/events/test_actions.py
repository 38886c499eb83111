"""Parsing and validating `on:`, filling placeholders, and running one action."""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlcd.errors import ConfigError
from mlcd.events.actions import Action, parse_actions, post_webhook, render, run_action
from mlcd.events.log import Event
from tests.events.conftest import Receiver


def event(type_: str = "alias_moved", **payload: Any) -> Event:
    return Event(7, type_, "churn@3", datetime.now(UTC), payload)


def test_each_form_of_action_is_parsed() -> None:
    actions = parse_actions(
        {
            "dataset_snapshot": "mlcd run",
            "run_finished": ["echo {run}", {"webhook": "https://example.com/hook"}],
            "model_registered": {"run": ["evaluate", "report"]},
            "alias_moved": None,
        }
    )
    assert actions == {
        "dataset_snapshot": (Action("dataset_snapshot", 0, "shell", "mlcd run"),),
        "run_finished": (
            Action("run_finished", 0, "shell", "echo {run}"),
            Action("run_finished", 1, "webhook", "https://example.com/hook"),
        ),
        "model_registered": (Action("model_registered", 0, "shell", "mlcd run evaluate report"),),
        "alias_moved": (),
    }
    assert actions["run_finished"][1].key == "on.run_finished[1]"


@pytest.mark.parametrize(
    ("on", "needles"),
    [
        ({"model_regsitered": "x"}, ["on.model_regsitered", "unknown event type"]),
        ({"run_finished": "echo {modle}"}, ["on.run_finished[0]", "{modle}"]),
        ({"run_finished": ["ok", "echo {version:03}"]}, ["on.run_finished[1]", "{version:03}"]),
        ({"run_finished": "awk '{print $1}'"}, ["{print $1}"]),
        ({"run_finished": "echo {"}, ["on.run_finished[0]", "Single '{'"]),
        ({"run_finished": "echo {}"}, ["unknown placeholder {}"]),
        ({"run_finished": "  "}, ["on.run_finished[0]", "empty string"]),
        ({"run_finished": {"webhook": "ftp://x"}}, ["on.run_finished[0].webhook", "ftp://x"]),
        ({"run_finished": {"webhook": 3}}, ["on.run_finished[0].webhook"]),
        ({"run_finished": {"run": [1]}}, ["on.run_finished[0].run", "step names"]),
        ({"run_finished": {"url": "http://x"}}, ["on.run_finished[0]", "keys ['url']"]),
        ({"run_finished": 5}, ["on.run_finished[0]", "got 5"]),
    ],
)
def test_a_malformed_action_is_a_config_error_naming_its_key(
    on: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_actions(on)
    for needle in needles:
        assert needle in info.value.message


def test_literal_braces_are_doubled() -> None:
    (action,) = parse_actions({"alias_moved": "awk '{{print {alias}}}'"})["alias_moved"]
    assert render(action.target, event(alias="prod")) == "awk '{print prod}'"


def test_placeholders_come_from_the_event_and_are_shell_quoted() -> None:
    e = event(model="churn", version=3, alias="x; rm -rf /", from_version=None)
    template = "deploy {model} {version} {alias} {type} {id} {subject}"
    assert render(template, e) == ("deploy churn 3 'x; rm -rf /' alias_moved 7 churn@3")
    assert shlex.split(render(template, e))[3] == "x; rm -rf /"  # one word, as data
    with pytest.raises(KeyError, match="from_version"):
        render("{from_version}", e)  # None is no value


def test_a_step_name_of_a_run_action_is_not_a_placeholder() -> None:
    (action,) = parse_actions({"run_finished": {"run": ["train"]}})["run_finished"]
    assert render(action.target, event("run_finished")) == "mlcd run train"


def test_a_missing_placeholder_fails_the_action_not_the_processor(tmp_path: Path) -> None:
    action = Action("dataset_snapshot", 0, "shell", "touch {model}")
    outcome = run_action(action, event("dataset_snapshot", dataset="sales"), tmp_path)
    assert outcome.error == "event #7 (dataset_snapshot) has no value for {model}"
    assert list(tmp_path.iterdir()) == []


def test_a_shell_action_sees_this_mlcd_first_on_path_and_the_event(tmp_path: Path) -> None:
    action = Action("alias_moved", 0, "shell", 'command -v mlcd > which.txt; echo "$MLCD_EVENT"')
    outcome = run_action(action, event(model="churn"), tmp_path)
    assert outcome.error is None
    assert (tmp_path / "which.txt").read_text().strip() == str(Path(sys.executable).parent / "mlcd")
    assert '"model": "churn"' in outcome.output


def test_a_failing_command_reports_its_exit_code_and_output(tmp_path: Path) -> None:
    outcome = run_action(
        Action("alias_moved", 0, "shell", "echo broken >&2; exit 3"), event(), tmp_path
    )
    assert outcome.error == "command failed (exit 3): broken"


def test_a_webhook_is_retried_on_5xx_until_its_attempts_run_out(receiver: Receiver) -> None:
    receiver.script["/down"] = [503] * 10
    error = post_webhook(receiver.url + "/down", event(), "7.0", delays=(0.01, 0.01, 0.01))
    assert error is not None and "failed after 4 attempts: HTTP 503" in error
    assert len(receiver.posts("/down")) == 4
    assert {h["X-Mlcd-Delivery"] for h in receiver.headers("/down")} == {"7.0"}


def test_a_webhook_to_a_closed_port_is_retried_then_fails() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = post_webhook(f"http://127.0.0.1:{port}/", event(), "7.0", delays=(0.01, 0.01, 0.01))
    assert error is not None and "failed after 4 attempts: ConnectError" in error
