"""`mlcd fsck` and `mlcd gc`: the store checked against the metadata DB, and tidied."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlcd.maintenance import GcReport
    from mlcd.workspace import Workspace

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def fsck(
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Only check presence; do not re-hash content.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Remove corrupt blobs, so that storing their content again works."
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Check that every blob the DB refers to is stored and intact (exit 1 if not)."""
    from mlcd.cli.progress import count_bar
    from mlcd.cli.render import out, print_json, table
    from mlcd.cli.state import options
    from mlcd.maintenance import fsck as run_fsck
    from mlcd.workspace import Workspace

    with count_bar("fsck: re-hashing blobs", options.quiet or json) as advance:
        report = run_fsck(Workspace.find(), verify=not no_verify, repair=repair, progress=advance)
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


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Say what would be removed; remove nothing.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option(
            help="Keep unreferenced blobs younger than this (30s, 10m, 1h, 2d): work in flight "
            "stores its blobs before the rows that refer to them.",
        ),
    ] = "1h",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove without asking (scripts, CI).")
    ] = False,
    forget_other_dbs: Annotated[
        bool,
        typer.Option(
            "--forget-other-dbs",
            help="Also remove the data of other metadata DBs that wrote to this store (gone "
            "workspaces); without it gc refuses while it finds their marks.",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Remove blobs that no dataset version, run, cached step, model or profile refers to."""
    from mlcd.cli.render import human_bytes, out, print_json
    from mlcd.maintenance import gc as run_gc
    from mlcd.workspace import Workspace

    ws = Workspace.find()
    grace_s = parse_duration(grace)
    if not (dry_run or yes):
        _confirm(ws, run_gc(ws, grace_s, dry_run=True, forget_other_dbs=forget_other_dbs))
    report = run_gc(ws, grace_s, dry_run=dry_run, forget_other_dbs=forget_other_dbs)
    if json:
        print_json(report.summary())
        return
    verb = "would remove" if dry_run else "removed"
    out.print(
        f"{verb} {len(report.removed):,} unreferenced blobs ({human_bytes(report.freed)}); "
        f"kept {report.reachable:,} referenced and {report.kept_young:,} younger than {grace}"
        + (f"; {report.temp_removed} stale temporary files removed" if report.temp_removed else "")
    )


def _confirm(ws: Workspace, preview: GcReport) -> None:
    """Deleting is forever: ask on a terminal, refuse elsewhere unless --yes was given."""
    from mlcd.cli.render import human_bytes
    from mlcd.errors import MlcdError

    if not preview.removed:
        return
    what = f"{len(preview.removed):,} unreferenced blobs ({human_bytes(preview.freed)})"
    if not sys.stdin.isatty():
        raise MlcdError(
            f"gc would remove {what} from {ws.store.url}; nothing was removed",
            hint="confirm with `mlcd gc --yes`; `mlcd gc --dry-run --json` lists them",
        )
    # the question goes to stderr, so that `mlcd gc --json | jq` gets only the JSON
    if not typer.confirm(f"remove {what} from {ws.store.url}?", err=True):
        raise MlcdError(f"gc not confirmed: nothing was removed from {ws.store.url}")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds of `90`, `30s`, `10m`, `1h`, `2d`; a usage error otherwise."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):  # also nan
        raise typer.BadParameter(
            f"{text!r} is not a duration: give e.g. 0, 30s, 10m, 1h or 2d", param_hint="--grace"
        )
    return seconds
