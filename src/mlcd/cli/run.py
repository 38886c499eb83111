"""`mlcd run` and `mlcd dag`: execute the pipeline of mlcd.yaml, or show its order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlcd.cli.state import options

if TYPE_CHECKING:
    from mlcd.pipeline.runner import StepResult

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_MARK = {
    "succeeded": "ran",
    "cached": "cached",
    "failed": "FAILED",
    "skipped": "skipped",
    "nondeterministic": "NONDETERMINISTIC",
}


class _Lines:
    """One line per finished step (implements mlcd.pipeline.runner.Reporter)."""

    # plain text, not rich: step errors quote code ("KeyError: ['x']") that markup would eat
    def started(self, step: str) -> None:
        import sys

        if not options.quiet and sys.stderr.isatty():
            print(f"  ... {step}", file=sys.stderr, flush=True)

    def finished(self, result: StepResult) -> None:
        from mlcd.cli.render import say

        took = f" ({result.duration:.1f} s)" if result.status == "succeeded" else ""
        line = f"{_MARK.get(result.status, result.status):>8} {result.step}{took}"
        if result.error:
            line += f": {result.error}"
        if result.model:
            line += f" -> registered {result.model}"
        say(line)
        for path in result.differing[:20]:
            say(f"           differs: {path}")


def run(
    steps: Annotated[list[str] | None, typer.Argument(help="Steps to run (default: all).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a param: --set train.lr=0.1 (repeatable)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for this run (default: mlcd.yaml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Ignore the cache.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Steps to run at once.")] = 1,
    check_determinism: Annotated[
        bool,
        typer.Option("--check-determinism", help="Run each step twice; compare its outputs."),
    ] = False,
    require_clean: Annotated[
        bool, typer.Option("--require-clean", help="Refuse to run on a dirty git tree.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Run the pipeline (or STEPS and what they need); unchanged steps are restored from cache."""
    import shlex
    import sys

    from mlcd.cli.render import print_json, say
    from mlcd.workspace import Workspace

    result = Workspace.find().run(
        steps or (),
        overrides=set_ or (),
        seed=seed,
        force=force,
        jobs=jobs,
        check_determinism=check_determinism,
        require_clean=require_clean,
        reporter=None if json else _Lines(),
        command=shlex.join(["mlcd", *sys.argv[1:]]),
    )
    if json:
        print_json(
            {
                "run_id": result.run_id,
                "status": result.status,
                "steps": [
                    {
                        "step": s.step,
                        "status": s.status,
                        "key": s.key,
                        "duration": s.duration,
                        "metrics": s.metrics,
                        "outputs": {k: v.to_dict() for k, v in s.outputs.items()},
                        "error": s.error,
                        "differing": list(s.differing),
                        "model": s.model,
                    }
                    for s in result.steps
                ],
            }
        )
    else:
        say(f"run {result.run_id}: {result.status}")
    if result.status != "succeeded":
        raise typer.Exit(1)


def dag(json: JsonOpt = False) -> None:
    """The steps of mlcd.yaml in run order, with what each reads and writes."""
    from mlcd.cli.render import out, print_json
    from mlcd.workspace import Workspace

    pipeline = Workspace.find().pipeline()
    if json:
        print_json(
            [
                {
                    "step": name,
                    "run": pipeline.steps[name].run,
                    "needs": pipeline.steps[name].upstream,
                    "inputs": [i.text for i in pipeline.steps[name].inputs],
                    "outputs": pipeline.steps[name].outputs,
                }
                for name in pipeline.order
            ]
        )
        return
    if not pipeline.order:
        out.print("no steps in mlcd.yaml")
    for name in pipeline.order:
        step = pipeline.steps[name]
        needs = f"  <- {', '.join(step.upstream)}" if step.upstream else ""
        out.print(f"[bold]{name}[/bold]{needs}")
        out.print(f"    run: {step.run}")
        for inp in step.inputs:
            out.print(f"    in:  {inp.text}")
        for out_name, path in step.outputs.items():
            out.print(f"    out: {out_name} -> {path}")
