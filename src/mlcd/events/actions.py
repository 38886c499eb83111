"""The actions `on:` in mlcd.yaml triggers: parsing, validation, and running one for one event.

    on:
      dataset_snapshot: mlcd run                     # a shell command (`mlcd` is this mlcd)
      run_finished:
        - echo {run} {status} >> runs.log            # placeholders, shell-quoted
        - webhook: https://hooks.example.com/mlcd    # POST of the event as JSON, retried
      model_registered:
        run: [evaluate, report]                      # a pipeline run of these steps

Placeholders are filled from the event, and every value is shell-quoted: payload values are data
that a command receives as one word each, never code the shell would interpret.
"""

from __future__ import annotations

import json
import os
import shlex
import string
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from mlcd.errors import ConfigError
from mlcd.events.log import TYPES, Event
from mlcd.processes import stop_group

# the event's own fields, then payload keys (run_finished: run, status; dataset_snapshot:
# dataset, version; model_registered: model, version; alias_moved: model, version, alias,
# from_version)
PLACEHOLDERS = (
    "id",
    "type",
    "subject",
    "dataset",
    "model",
    "version",
    "alias",
    "from_version",
    "run",
    "status",
)
WEBHOOK_DELAYS = (0.5, 1.0, 2.0)  # waits between the 4 attempts of a webhook
WEBHOOK_TIMEOUT = 10.0
_TAIL = 2000  # characters of a failed command's output kept as its error


@dataclass(frozen=True)
class Action:
    """One action of `on:`: a shell command template, or a webhook URL.

    `index` is the action's position in its event type's list: with the event id, it is what
    the processor claims, so reordering `on:` while events are pending re-targets their claims.
    """

    event_type: str
    index: int
    kind: Literal["shell", "webhook"]
    target: str  # the command template, or the URL

    @property
    def key(self) -> str:
        """Where the action is in mlcd.yaml: `on.run_finished[1]`."""
        return f"on.{self.event_type}[{self.index}]"

    def describe(self) -> str:
        return f"{self.kind}: {self.target}"


@dataclass(frozen=True)
class Outcome:
    """How running an action went: `error` is None on success."""

    error: str | None
    output: str = ""  # the tail of a command's stdout and stderr


def parse_actions(on: Mapping[str, Any]) -> dict[str, tuple[Action, ...]]:
    """Validate `on:` and return its actions by event type.

    Raises:
        ConfigError: an unknown event type, a malformed action, an unknown placeholder.
    """
    actions: dict[str, tuple[Action, ...]] = {}
    for event_type, value in on.items():
        if event_type not in TYPES:
            raise ConfigError(
                f"mlcd.yaml: on.{event_type}: unknown event type",
                hint=f"use one of {', '.join(TYPES)}",
            )
        items = [] if value is None else value if isinstance(value, list) else [value]
        actions[event_type] = tuple(_parse_one(event_type, i, item) for i, item in enumerate(items))
    return actions


_FORMS = "a shell command, {webhook: URL} or {run: [STEP, ...]}"


def _parse_one(event_type: str, index: int, item: Any) -> Action:
    key = f"on.{event_type}[{index}]"
    if isinstance(item, str):
        if not item.strip():
            raise ConfigError(f"mlcd.yaml: {key}: expected {_FORMS}, got an empty string")
        _check_template(key, item)
        return Action(event_type, index, "shell", item)
    if isinstance(item, dict) and set(item) == {"webhook"}:
        url = item["webhook"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"mlcd.yaml: {key}.webhook: expected an http(s) URL, got {url!r}",
                hint="write it as {webhook: https://host/path}",
            )
        return Action(event_type, index, "webhook", url)
    if isinstance(item, dict) and set(item) == {"run"}:
        steps = item["run"]
        steps = [] if steps is None else [steps] if isinstance(steps, str) else steps
        if not isinstance(steps, list) or not all(isinstance(s, str) and s for s in steps):
            raise ConfigError(
                f"mlcd.yaml: {key}.run: expected a list of step names, got {item['run']!r}"
            )
        # braces doubled: the command is a template, and step names are not placeholders
        words = [
            "mlcd",
            "run",
            *(shlex.quote(s).replace("{", "{{").replace("}", "}}") for s in steps),
        ]
        return Action(event_type, index, "shell", " ".join(words))
    got = f"a mapping with keys {sorted(item)}" if isinstance(item, dict) else repr(item)
    raise ConfigError(f"mlcd.yaml: {key}: expected {_FORMS}, got {got}")


def _check_template(key: str, template: str) -> None:
    literal = "write a literal brace as {{ or }}"
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"mlcd.yaml: {key}: {exc} in {template!r}", hint=literal) from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ConfigError(
                f"mlcd.yaml: {key}: unknown placeholder {{{written}}} in {template!r}",
                hint=f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}; {literal}",
            )


def values(event: Event) -> dict[str, str]:
    """The placeholder values an event has: its id, type and subject, and payload scalars."""
    found = {"id": str(event.id), "type": event.type, "subject": event.subject}
    for name in PLACEHOLDERS:
        value = event.payload.get(name)
        if name not in found and isinstance(value, str | int | float) and value != "":
            found[name] = str(value)
    return found


def render(template: str, event: Event) -> str:
    """The command for `event`, each value shell-quoted.

    Raises:
        KeyError: a placeholder this event has no value for (its name is the key).
    """
    have = values(event)
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(shlex.quote(have[name]))
    return "".join(parts)


# events caused by actions of events caused by actions ...: past this depth actions are not run
MAX_CHAIN = 5


def run_action(
    action: Action,
    event: Event,
    cwd: Path,
    delays: Sequence[float] = WEBHOOK_DELAYS,
) -> Outcome:
    """Run one action for one event; a failure is an Outcome with an error, never an exception."""
    if event.depth >= MAX_CHAIN:
        return Outcome(
            f"not run: event #{event.id} is the {event.depth}th in a chain of events caused by "
            f"actions (at most {MAX_CHAIN}); an action that causes its own event loops, "
            "e.g. `run_finished: mlcd run`"
        )
    if action.kind == "webhook":
        delivery = f"{event.id}.{action.index}"
        return Outcome(post_webhook(action.target, event, delivery, delays=delays))
    try:
        command = render(action.target, event)
    except KeyError as exc:
        return Outcome(f"event #{event.id} ({event.type}) has no value for {{{exc.args[0]}}}")
    return run_shell(command, event, cwd)


def run_shell(command: str, event: Event, cwd: Path) -> Outcome:
    """Run a command with /bin/sh in `cwd`; `mlcd` on its PATH is the mlcd running now."""
    env = {
        **os.environ,
        # the interpreter's scripts first: `mlcd run` in an action is this mlcd, in this venv
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MLCD_EVENT": json.dumps(event.to_dict(), default=str),
        "MLCD_EVENT_ID": str(event.id),
        "MLCD_EVENT_TYPE": event.type,
        "MLCD_EVENT_DEPTH": str(event.depth),
    }
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stopping it stops its children
    )
    try:
        stdout, _ = proc.communicate()
    except BaseException:  # Ctrl-C: stop the command and everything it started, then unwind
        stop_group(proc, grace=3)
        raise
    output = stdout.decode(errors="replace")[-_TAIL:]
    code = proc.returncode
    if code == 0:
        return Outcome(None, output)
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    tail = output.strip()
    return Outcome(f"command failed ({how})" + (f": {tail}" if tail else ""), output)


def post_webhook(
    url: str,
    event: Event,
    delivery: str,
    *,
    delays: Sequence[float] = WEBHOOK_DELAYS,
    timeout: float = WEBHOOK_TIMEOUT,
) -> str | None:
    """POST the event as JSON; None when delivered, else why not.

    Connection errors, timeouts and 5xx answers are retried after each of `delays`; any other
    non-2xx answer fails at once, since sending the same request again would not change it.
    `X-Mlcd-Delivery` is the same on every attempt, so a receiver can drop duplicates.
    """
    try:
        import httpx
    except ImportError:
        return "webhooks need httpx: pip install httpx"
    from mlcd._version import __version__

    headers = {
        "User-Agent": f"mlcd/{__version__}",
        "X-Mlcd-Event": event.type,
        "X-Mlcd-Delivery": delivery,
    }
    attempts = len(delays) + 1
    problem = ""
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for attempt in range(attempts):
            if attempt:
                time.sleep(delays[attempt - 1])
            try:
                response = client.post(url, json=event.to_dict())
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return None
            problem = f"HTTP {response.status_code} {response.reason_phrase}"
            if response.status_code < 500:
                return f"webhook {url} answered {problem}"
    return f"webhook {url} failed after {attempts} attempts: {problem}"
