"""`mlcd fsck` and `mlcd gc`: the store checked against the metadata DB, and tidied."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def fsck(
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Only check presence; do not re-hash content.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Check that every blob the DB refers to is stored and intact (exit 1 if not)."""
    from mlcd.cli.render import out, print_json, table
    from mlcd.maintenance import fsck as run_fsck
    from mlcd.workspace import Workspace

    report = run_fsck(Workspace.find(), verify=not no_verify)
    if json:
        print_json(report.summary())
    else:
        verified = f", {report.verified:,} re-hashed" if not no_verify else ""
        out.print(
            f"{report.reachable:,} blobs referenced, {report.stored:,} stored{verified}, "
            f"{report.unreferenced:,} unreferenced (`mlcd gc` removes them)"
        )
        if report.problems:
            rows = [(p.kind, p.blob, p.used_by, p.detail) for p in report.problems]
            table(["problem", "blob", "used by", "detail"], rows)
        else:
            out.print("ok: the store holds everything the metadata DB refers to")
    if not report.ok:
        raise typer.Exit(1)
