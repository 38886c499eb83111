"""`mlcd events list/process` and `mlcd hooks install`, in this process."""

from __future__ import annotations

from mlcd.events.log import ALIAS_MOVED, RUN_FINISHED
from tests.cli.conftest import Cli, assert_error
from tests.events.conftest import Hooked

MOVED = {"model": "churn", "version": 3, "alias": "production", "from_version": 2}


def test_events_list_filters_by_type_and_pages(hooked: Hooked, cli: Cli) -> None:
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED, n=2)
    hooked.emit(RUN_FINISHED, "r1", {"run": "r1", "status": "succeeded"})
    listed = cli("events", "list", "--json").json()
    assert [(e["id"], e["type"]) for e in listed] == [
        (1, ALIAS_MOVED),
        (2, ALIAS_MOVED),
        (3, RUN_FINISHED),
    ]
    assert listed[0]["payload"] == MOVED and listed[0]["subject"] == "churn@3"
    assert [e["id"] for e in cli("events", "list", "--type", RUN_FINISHED, "--json").json()] == [3]
    assert [e["id"] for e in cli("events", "list", "--after", "1", "--json").json()] == [2, 3]
    page = cli("events", "list", "-n", "2")
    assert page.code == 0 and "more: mlcd events list --after 2" in page.out
    assert "alias=production" in page.out


def test_events_list_of_an_unknown_type_is_an_error(hooked: Hooked, cli: Cli) -> None:
    assert_error(cli("events", "list", "--type", "snapshot"), "unknown event type 'snapshot'")


def test_events_process_prints_each_outcome_and_fails_if_one_failed(
    hooked: Hooked, cli: Cli
) -> None:
    hooked.configure({ALIAS_MOVED: ["echo {alias} >> moved.txt", "echo [oops] >&2; exit 5"]})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    result = cli("events", "process")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("done   #1 alias_moved churn@3  shell: echo {alias} >> moved.txt")
    assert lines[1].startswith("failed #1 alias_moved churn@3  shell: echo [oops] >&2; exit 5")
    assert lines[2].strip() == "command failed (exit 5): [oops]"
    assert hooked.lines("moved.txt") == ["production"]

    again = cli("events", "process")
    assert (again.code, again.out.strip()) == (0, "no new events to act on")


def test_events_process_json(hooked: Hooked, cli: Cli) -> None:
    hooked.configure({ALIAS_MOVED: "echo {version}"})
    hooked.emit(ALIAS_MOVED, "churn@3", MOVED)
    (result,) = cli("events", "process", "--json").json()
    assert result["status"] == "done" and result["output"] == "3\n"
    assert result["event_id"] == 1 and result["recorded"] is True
    assert cli("events", "process", "--json").json() == []


def test_a_bad_on_section_is_one_clear_error(hooked: Hooked, cli: Cli) -> None:
    hooked.configure({ALIAS_MOVED: "deploy {modle}"})
    assert_error(cli("events", "process"), "on.alias_moved[0]", "unknown placeholder {modle}")


def test_hooks_install_outside_git_is_one_clear_error(hooked: Hooked, cli: Cli) -> None:
    assert_error(cli("hooks", "install"), "is not inside a git repository")
