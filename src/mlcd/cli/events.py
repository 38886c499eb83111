"""`mlcd events ...`, `mlcd watch` and `mlcd hooks install`: the event log and what it triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlcd.events.processor import ActionResult

app = typer.Typer(
    help="The event log, and the actions `on:` in mlcd.yaml runs for new events.",
    no_args_is_help=True,
)
hooks = typer.Typer(help="Git hooks that run mlcd.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ConsumerOpt = Annotated[
    str, typer.Option("--consumer", help="Name of the cursor that remembers what was processed.")
]
ClaimTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--claim-timeout",
        min=1,
        help="Seconds after which a claim whose holder stopped refreshing it is taken over "
        "(default 300).",
    ),
]


@app.command("list")
def list_(
    type_: Annotated[str | None, typer.Option("--type", help="Only events of this type.")] = None,
    after: Annotated[int, typer.Option("--after", help="Only events with a higher id.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many events.")] = 100,
    json: JsonOpt = False,
) -> None:
    """Events, oldest first: snapshots, runs, model registrations, alias moves."""
    from mlcd.cli.render import out, print_json, table, when
    from mlcd.workspace import Workspace

    events = Workspace.find().events(after, type_, limit)
    if json:
        print_json([e.to_dict() for e in events])
        return
    if not events:
        out.print("no events" + (" after #" + str(after) if after else ""))
        return
    table(
        ["id", "type", "subject", "at", "payload"],
        [
            (
                e.id,
                e.type,
                e.subject,
                when(e.at),
                " ".join(
                    f"{k}={v}" for k, v in e.payload.items() if not isinstance(v, dict | list)
                ),
            )
            for e in events
        ],
    )
    if len(events) == limit:
        out.print(f"more: mlcd events list --after {events[-1].id}")


@app.command()
def process(
    consumer: ConsumerOpt = "default",
    claim_timeout: ClaimTimeoutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Run the actions of new events, each once; exit 1 if any failed."""
    from mlcd.cli.render import out, print_json
    from mlcd.workspace import Workspace

    results = Workspace.find().process_events(
        consumer, claim_timeout=claim_timeout, on_result=None if json else _print_result
    )
    if json:
        print_json([r.to_dict() for r in results])
    elif not results:
        out.print("no new events to act on")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def skip(consumer: ConsumerOpt = "default", json: JsonOpt = False) -> None:
    """Move past every event logged so far without running its actions (before a new `on:`)."""
    from mlcd.cli.render import out, print_json
    from mlcd.workspace import Workspace

    before, after = Workspace.find().skip_events(consumer)
    if json:
        print_json({"consumer": consumer, "skipped": after - before, "cursor": after})
        return
    out.print(
        f"skipped events #{before + 1} to #{after} for consumer {consumer}: their actions "
        "will not run"
        if after > before
        else f"nothing to skip: consumer {consumer} is at #{after}"
    )


def watch(
    interval: Annotated[
        float,
        typer.Option("--interval", "-i", min=0.01, help="Seconds between looks for new events."),
    ] = 2.0,
    consumer: ConsumerOpt = "default",
    claim_timeout: ClaimTimeoutOpt = None,
) -> None:
    """Keep running the actions of new events as they arrive, until Ctrl-C."""
    from mlcd.cli.render import err
    from mlcd.workspace import Workspace

    ws = Workspace.find()
    err.print(f"watching for events every {interval:g} s; Ctrl-C to stop")
    from mlcd.errors import ConfigError

    reported: set[str] = set()

    def config_error(exc: ConfigError) -> None:
        if exc.message not in reported:  # once per distinct mistake, not every round
            reported.add(exc.message)
            err.print(f"warning: {exc.message}; acting on the last valid mlcd.yaml")

    try:
        ws.watch(
            interval,
            consumer=consumer,
            claim_timeout=claim_timeout,
            on_result=_print_result,
            on_config_error=config_error,
        )
    except KeyboardInterrupt:  # the way to stop watching: not a failure
        err.print("stopped watching")


@hooks.command("install")
def install(
    command: Annotated[
        str, typer.Option("--command", "-c", help="What the hook runs after each commit.")
    ] = "mlcd run",
    force: Annotated[
        bool, typer.Option("--force", help="Replace a post-commit hook not written by mlcd.")
    ] = False,
) -> None:
    """Write a git post-commit hook that runs the pipeline after every commit."""
    from mlcd.cli.render import out
    from mlcd.workspace import Workspace

    hook = Workspace.find().install_hook(command, force=force)
    out.print(f"installed {hook}: runs `{command}` after every commit")


def _print_result(r: ActionResult) -> None:
    from rich.markup import escape

    from mlcd.cli.render import out

    colour = "green" if r.ok else "red"
    out.print(
        f"[{colour}]{r.status:<6}[/{colour}] #{r.event_id} {r.event_type} {escape(r.subject)}"
        f"  {escape(r.description)}  ({r.seconds:.2f} s)"
    )
    if r.error:
        out.print(f"       {escape(r.error)}")
    if not r.recorded:
        out.print("       (another processor took this claim over meanwhile: it may run twice)")
