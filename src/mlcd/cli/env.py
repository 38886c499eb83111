"""`mlcd env ...`: the environment a run was made in, and how two differ."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Captured environments of runs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunArg = Annotated[str, typer.Argument(help="Run id, a unique prefix of one, or 'latest'.")]


@app.command()
def show(run_id: RunArg, json: JsonOpt = False) -> None:
    """Python, platform, packages and accelerators recorded by a run."""
    from mlcd.cli.render import fields, print_json, table
    from mlcd.workspace import Workspace

    run = Workspace.find().get_run(run_id)
    if json:
        print_json({"run": run.id, "lock_hash": run.env_lock, **run.env})
        return
    env = run.env
    fields(
        [
            ("run", run.id),
            ("lock", run.env_lock),
            ("python", f"{env.get('python')} ({env.get('implementation')})"),
            ("platform", env.get("platform")),
            ("accelerator", env.get("accelerator") or "-"),
        ]
    )
    table(["package", "version"], sorted(env.get("packages", {}).items()), title="packages")


@app.command()
def diff(a: RunArg, b: RunArg, json: JsonOpt = False) -> None:
    """Packages added, removed and changed from run A to run B."""
    from mlcd.cli.render import out, print_json, table
    from mlcd.pipeline.env import Environment, diff_environments
    from mlcd.workspace import Workspace

    ws = Workspace.find()
    ra, rb = ws.get_run(a), ws.get_run(b)
    d = diff_environments(Environment.from_dict(ra.env), Environment.from_dict(rb.env))
    if json:
        print_json(
            {
                "a": ra.id,
                "b": rb.id,
                "added": d.added,
                "removed": d.removed,
                "changed": {k: list(v) for k, v in d.changed.items()},
                "python": d.python,
                "platform": d.platform,
                "machine": d.machine,
            }
        )
        return
    if d.empty:
        out.print(f"{ra.id} and {rb.id} ran in the same environment ({ra.env_lock[:19]})")
        return
    rows = [
        *((n, "-", v) for n, v in d.added.items()),
        *((n, v, "-") for n, v in d.removed.items()),
        *((n, o, nw) for n, (o, nw) in d.changed.items()),
    ]
    if rows:
        table(["package", ra.id, rb.id], rows)
    for label, change in (("python", d.python), ("platform", d.platform), ("machine", d.machine)):
        if change:
            out.print(f"{label}: {change[0]} -> {change[1]}")
