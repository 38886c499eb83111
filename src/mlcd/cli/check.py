"""`mlcd check ...` and `mlcd data profile`: data tests with a table, JSON or JUnit XML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlcd.checks.result import CheckResult

app = typer.Typer(
    help="Data and model checks: measured values, bounds, pass/fail.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
JunitOpt = Annotated[
    Path | None, typer.Option("--junit", help="Also write JUnit XML (one test case per check).")
]


def _report(results: list[CheckResult], json: bool, junit: Path | None, suite: str) -> None:
    from mlcd.checks.report import write_junit
    from mlcd.cli.render import out, print_json, table

    if junit is not None:
        write_junit(results, junit, suite)
    if json:
        print_json([r.to_dict() for r in results])
    else:
        table(
            ["check", "result", "measured", "detail"],
            [
                (
                    r.name,
                    "pass" if r.passed else ("FAIL" if r.failed else "warn"),
                    _short(r.value),
                    r.message,
                )
                for r in results
            ],
        )
        failed = sum(r.failed for r in results)
        out.print(f"{len(results)} checks, {failed} failed")
    if any(r.failed for r in results):
        raise typer.Exit(1)


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "" if value is None else str(value)
    return text if len(text) <= 24 else text[:21] + "..."


@app.command()
def data(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for latest).")],
    json: JsonOpt = False,
    junit: JunitOpt = None,
) -> None:
    """Run the checks mlcd.yaml declares for a dataset version."""
    from mlcd.workspace import Workspace

    results = Workspace.find().check_data(ref)
    _report(results, json, junit, f"data {ref}")


@app.command()
def model(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@latest or NAME@ALIAS.")],
    data: Annotated[
        Path | None, typer.Option(help="Held-out rows (.parquet/.csv) with the target column.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The label column of --data.")] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(
            help="A check (repeatable): better_than_baseline, class_balance, "
            "mean_prediction, row_order_invariant, deterministic."
        ),
    ] = None,
    json: JsonOpt = False,
    junit: JunitOpt = None,
) -> None:
    """Run model checks on held-out data (defaults from the model: block of mlcd.yaml)."""
    from mlcd.workspace import Workspace

    results = Workspace.find().check_model(ref, data=data, target=target, checks=check)
    _report(results, json, junit, f"model {ref}")


@app.command("all")
def all_(json: JsonOpt = False, junit: JunitOpt = None) -> None:
    """Every dataset's declared checks, on its latest version."""
    from mlcd.workspace import Workspace

    ws = Workspace.find()
    results = []
    for name, cfg in ws.config.datasets.items():
        if cfg.checks:
            results += ws.check_data(f"{name}@latest")
    _report(results, json, junit, "mlcd")


def profile(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for latest).")],
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
    suggest: Annotated[
        bool, typer.Option("--suggest", help="Print a checks: block derived from the profile.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Statistics of every column (computed once, stored with the version)."""
    import yaml

    from mlcd.checks.html import render
    from mlcd.checks.suggest import suggest as propose
    from mlcd.cli.render import err, print_json, table
    from mlcd.workspace import Workspace

    ws = Workspace.find()
    version = ws.version(ref)
    stats = ws.profile(ref)
    if html is not None:
        html.write_text(render(version.ref, version.content_id, version.rows, stats), "utf-8")
        err.print(f"wrote {html}")
    if suggest:
        block = {"datasets": {version.name: {"checks": propose(stats, version.rows)}}}
        print(yaml.safe_dump(block, sort_keys=False, default_flow_style=None), end="")
        return
    if json:
        print_json(
            {
                "ref": version.ref,
                "rows": version.rows,
                "columns": {k: v.to_dict() for k, v in stats.items()},
            }
        )
        return
    table(
        ["column", "type", "nulls", "distinct", "min", "max", "mean", "std", "skew", "mode"],
        [
            (
                s.name,
                s.dtype,
                f"{s.null_fraction:.1%}",
                s.distinct,
                _short(s.min),
                _short(s.max),
                _short(s.mean),
                _short(s.std),
                _short(s.skewness),
                _short(s.mode),
            )
            for s in stats.values()
        ],
        title=f"{version.ref}: {version.rows:,} rows",
    )
