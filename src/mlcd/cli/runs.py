"""`mlcd runs ...` and `mlcd logs`: the record of every pipeline run."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Pipeline runs: what ran, with which inputs, and how it went.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunArg = Annotated[str, typer.Argument(help="Run id, a unique prefix of one, or 'latest'.")]


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
    json: JsonOpt = False,
) -> None:
    """The newest runs first."""
    from mlcd.cli.render import out, print_json, table, when
    from mlcd.workspace import Workspace

    runs = Workspace.find().runs(limit)
    if json:
        print_json([r.to_dict() for r in runs])
        return
    if not runs:
        out.print("no runs yet: mlcd run")
        return
    table(
        ["run", "status", "started", "took", "ran", "cached", "commit"],
        [
            (
                r.id,
                r.status,
                when(r.started_at),
                f"{r.duration:.1f} s" if r.duration is not None else "",
                sum(s.status == "succeeded" for s in r.steps),
                sum(s.status == "cached" for s in r.steps),
                ((r.git or {}).get("commit") or "-")[:10]
                + ("*" if (r.git or {}).get("dirty") else ""),
            )
            for r in runs
        ],
    )


@app.command()
def show(run_id: RunArg, json: JsonOpt = False) -> None:
    """Everything recorded about one run."""
    from mlcd.cli.render import fields, out, print_json, table, when
    from mlcd.workspace import Workspace

    r = Workspace.find().get_run(run_id)
    if json:
        print_json(r.to_dict())
        return
    git = r.git or {}
    fields(
        [
            ("run", r.id),
            ("status", r.status + (f" ({r.error})" if r.error else "")),
            ("started", f"{when(r.started_at)} by {r.created_by} on {r.host}"),
            ("took", f"{r.duration:.2f} s" if r.duration is not None else "-"),
            ("command", r.command),
            ("seed", r.seed),
            (
                "git",
                f"{git.get('commit') or '-'} {git.get('branch') or ''}"
                + (" (dirty)" if git.get("dirty") else "")
                if r.git
                else "no git",
            ),
            ("env", f"{r.env_lock[:19]} python {r.env.get('python', '?')}"),
            ("inputs", ", ".join(v["ref"] for v in r.inputs.values()) or "-"),
        ]
    )
    out.print()
    table(
        ["step", "status", "took", "metrics", "key"],
        [
            (
                s.step,
                s.status,
                f"{s.duration:.2f} s" if s.duration is not None else "",
                " ".join(f"{k}={v:g}" for k, v in s.metrics.items()),
                s.key[:15],
            )
            for s in r.steps
        ],
    )


@app.command()
def compare(a: RunArg, b: RunArg, json: JsonOpt = False) -> None:
    """Params, metrics, inputs and environment differences between runs A and B."""
    from mlcd.cli.render import out, print_json, table
    from mlcd.workspace import Workspace

    c = Workspace.find().compare_runs(a, b)
    if json:
        print_json(c.to_dict())
        return
    out.print(f"{c.a} -> {c.b}")
    for title, changes in (("params", c.params), ("metrics", c.metrics), ("inputs", c.inputs)):
        if changes:
            table(["key", c.a, c.b], [(x.key, x.a, x.b) for x in changes], title=title)
    for change in (c.seed, c.git):
        if change is not None:
            out.print(f"{change.key}: {change.a} -> {change.b}")
    env_rows = [
        *((n, "-", v) for n, v in c.env_added.items()),
        *((n, v, "-") for n, v in c.env_removed.items()),
        *((n, old, new) for n, (old, new) in c.env_changed.items()),
    ]
    if env_rows:
        table(["package", c.a, c.b], env_rows, title="environment")
    elif not (c.params or c.inputs or c.seed or c.git):
        out.print("same params, inputs, seed, code and environment")


def logs(
    run_id: RunArg,
    step: Annotated[str, typer.Argument(help="Step name.")],
    stderr: Annotated[bool, typer.Option("--stderr", help="Show stderr instead.")] = False,
) -> None:
    """What STEP printed during run RUN_ID."""
    import sys

    from mlcd.workspace import Workspace

    data = Workspace.find().logs(run_id, step, "stderr" if stderr else "stdout")
    sys.stdout.buffer.write(data)
