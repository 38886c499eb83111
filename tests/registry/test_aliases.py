"""Aliases: movable pointers with a full history (from, to, when, by whom, why), resolvable
anywhere a version is, validated, and announced as `alias_moved` events."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcd.errors import InvalidNameError, NotFoundError
from mlcd.events.log import ALIAS_MOVED, list_events
from mlcd.workspace import Workspace
from tests.cli.conftest import Cli, assert_error, mlcd
from tests.postgres import BACKENDS
from tests.registry.conftest import registry_state

DB_BACKENDS = BACKENDS  # every test on the `ws` fixture runs on SQLite and on PostgreSQL


def moves(ws: Workspace) -> list[tuple[str, int | None, int | None, str | None]]:
    return [(m.alias, m.from_version, m.to_version, m.reason) for m in ws.alias_history("churn")]


def test_set_move_and_delete_an_alias(registered: Workspace) -> None:
    ws = registered
    t0 = datetime.now(UTC)
    first = ws.set_alias("churn", "production", 1, reason="first release")
    assert (first.from_version, first.to_version) == (None, 1)
    assert ws.model("churn@production").number == 1
    moved = ws.set_alias("churn", "production", "3", reason="better auc")
    assert (moved.from_version, moved.to_version, moved.reason) == (1, 3, "better auc")
    assert ws.model("churn@production").number == 3
    ws.set_alias("churn", "staging", "latest")
    removed = ws.set_alias("churn", "production", None, reason="incident 42")
    assert (removed.from_version, removed.to_version) == (3, None)
    t1 = datetime.now(UTC)
    with pytest.raises(NotFoundError, match="has no alias 'production'") as err:
        ws.model("churn@production")
    assert err.value.hint is not None and "staging" in err.value.hint
    # the history: newest first, every move with from/to/when/by/why
    history = ws.alias_history("churn")
    assert moves(ws) == [
        ("production", 3, None, "incident 42"),
        ("staging", None, 3, None),
        ("production", 1, 3, "better auc"),
        ("production", None, 1, "first release"),
    ]
    assert all(m.by == getpass.getuser() and m.model == "churn" for m in history)
    assert all(t0 <= m.at <= t1 for m in history)
    assert [m.at for m in history] == sorted((m.at for m in history), reverse=True)
    assert history[0].to_dict()["at"] == history[0].at.isoformat()
    # the summary and each version know their aliases
    (summary,) = ws.models()
    assert summary.aliases == {"staging": 3}
    assert ws.model("churn@3").aliases == ("staging",)
    assert ws.model("churn@1").aliases == ()


def test_an_alias_resolves_everywhere_a_version_does(
    registered: Workspace, cli: Cli, logreg: Any, fresh: pd.DataFrame
) -> None:
    ws = registered
    ws.set_alias("churn", "production", 2)
    ws.set_alias("churn", "staging", "production")  # an alias may name another alias
    assert ws.model("churn@staging").number == 2
    v = ws.model("churn@production")
    assert (v.ref, v.metrics, v.aliases) == ("churn@2", {"auc": 0.74}, ("production", "staging"))
    model = ws.load_model("churn@production")
    np.testing.assert_array_equal(model.predict(fresh), logreg.predict(fresh))
    assert ws.load_model("churn@production", onnx=True).graph is not None
    shown = cli("models", "show", "churn@production", "--json").json()
    assert (shown["ref"], shown["aliases"]) == ("churn@2", ["production", "staging"])
    text = cli("models", "show", "churn@staging")
    assert text.code == 0 and "churn@2  [production, staging]" in text.out
    assert "auc=0.74" in text.out


def test_the_ci_identity_is_recorded(
    registered: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    move = registered.set_alias("churn", "production", 1)
    assert move.by == "ci:octocat"
    assert registered.alias_history("churn")[0].by == "ci:octocat"
    monkeypatch.delenv("GITHUB_ACTOR")
    registered.set_alias("churn", "production", 2)
    assert [m.by for m in registered.alias_history("churn")] == [getpass.getuser(), "ci:octocat"]


def test_moving_to_a_version_that_does_not_exist_changes_nothing(registered: Workspace) -> None:
    ws = registered
    ws.set_alias("churn", "production", 2)
    before = registry_state(ws.root)
    with pytest.raises(NotFoundError, match="model 'churn' has no version 7"):
        ws.set_alias("churn", "production", 7)
    with pytest.raises(NotFoundError, match="has no alias 'canary'"):
        ws.set_alias("churn", "production", "canary")
    with pytest.raises(NotFoundError, match="model 'nope' does not exist"):
        ws.set_alias("nope", "production", 1)
    with pytest.raises(NotFoundError, match="no alias 'staging' to remove"):
        ws.set_alias("churn", "staging", None)
    assert registry_state(ws.root) == before  # no history row, no event
    assert ws.model("churn@production").number == 2


@pytest.mark.parametrize("alias", ["3", "latest", "a b", "", "-x", "_x", "x/y", "a" * 65, "prod@1"])
def test_invalid_alias_names_are_refused(registered: Workspace, alias: str) -> None:
    before = registry_state(registered.root)
    with pytest.raises(InvalidNameError, match="invalid alias") as err:
        registered.set_alias("churn", alias, 1)
    assert err.value.hint is not None and "not 'latest'" in err.value.hint
    assert registry_state(registered.root) == before


def test_valid_alias_names(registered: Workspace) -> None:
    for alias in ("production", "Staging", "canary-2", "shadow_eu", "a" * 64):
        registered.set_alias("churn", alias, 1)
        assert registered.model(f"churn@{alias}").number == 1


def test_history_of_an_unknown_model(registered: Workspace) -> None:
    with pytest.raises(NotFoundError, match="model 'nope' does not exist"):
        registered.alias_history("nope")
    assert registered.alias_history("churn") == []


def test_moving_an_alias_emits_alias_moved(registered: Workspace) -> None:
    ws = registered
    ws.set_alias("churn", "production", 1, reason="first")
    ws.set_alias("churn", "production", 3, reason="second")
    ws.set_alias("churn", "production", None)
    with ws.db.sql() as conn:
        events = list_events(conn, type_=ALIAS_MOVED)
    assert [e.subject for e in events] == ["churn@production"] * 3
    payloads = [e.payload for e in events]
    assert [(p["model"], p["alias"], p["from_version"], p["version"]) for p in payloads] == [
        ("churn", "production", None, 1),
        ("churn", "production", 1, 3),
        ("churn", "production", 3, None),
    ]
    assert payloads[1]["reason"] == "second" and payloads[1]["by"] == getpass.getuser()


# -- the CLI ---------------------------------------------------------------------------------


def test_alias_and_history_commands(registered: Workspace, cli: Cli) -> None:
    reason = "beats baseline [ticket ml-7]"  # brackets print as they are, not as markup
    r = cli("models", "alias", "churn", "production", "2", "--reason", reason)
    assert r.code == 0, r.err
    assert "churn@production: nothing -> churn@2" in r.out
    r = cli("models", "alias", "churn", "production", "3", "--json")
    assert r.json()["from_version"] == 2 and r.json()["to_version"] == 3
    r = cli("models", "alias", "churn", "production", "--delete")
    assert r.code == 0 and "churn@3 -> nothing (removed)" in r.out
    history = cli("models", "history", "churn", "--json").json()
    assert [(h["alias"], h["from_version"], h["to_version"]) for h in history] == [
        ("production", 3, None),
        ("production", 2, 3),
        ("production", None, 2),
    ]
    assert history[2]["reason"] == reason
    assert history[2]["by"] == getpass.getuser()
    table = cli("models", "history", "churn")
    assert table.code == 0 and reason in table.out and "removed" in table.out


def test_alias_command_errors(registered: Workspace, cli: Cli) -> None:
    before = registry_state(registered.root)
    assert_error(cli("models", "alias", "churn", "production", "9"), "no version 9")
    assert_error(cli("models", "alias", "churn", "3", "1"), "invalid alias '3'")
    assert_error(cli("models", "alias", "churn", "latest", "1"), "invalid alias 'latest'")
    assert_error(cli("models", "alias", "churn", "a b", "1"), "invalid alias 'a b'")
    assert_error(cli("models", "alias", "churn", "production"), "give a VERSION, or --delete")
    assert_error(cli("models", "alias", "churn", "production", "2", "--delete"), "--delete")
    assert_error(cli("models", "alias", "nope", "production", "1"), "'nope' does not exist")
    assert_error(cli("models", "history", "nope"), "'nope' does not exist")
    assert registry_state(registered.root) == before


@pytest.mark.slow
def test_alias_commands_as_real_processes(registered: Workspace) -> None:
    root = registered.root
    ok = mlcd("models", "alias", "churn", "production", "2", "--reason", "r1", cwd=root)
    assert ok.code == 0, ok.err
    bad = mlcd("models", "alias", "churn", "production", "42", cwd=root)
    assert_error(bad, "model 'churn' has no version 42")
    shown = mlcd("models", "show", "churn@production", "--json", cwd=root)
    assert shown.json()["number"] == 2
    missing = mlcd("models", "show", "churn@canary", cwd=root)
    assert_error(missing, "has no alias 'canary'")
    assert "production" in missing.err  # the hint lists the aliases there are
