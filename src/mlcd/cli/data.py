"""`mlcd data ...`: snapshot, list, show, diff, log and materialize dataset versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlcd.cli.state import options

if TYPE_CHECKING:
    from mlcd.data.manifest import DatasetVersion, FileEntry
    from mlcd.workspace import Workspace

app = typer.Typer(
    help="Versioned datasets: immutable, content-addressed snapshots.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _workspace() -> Workspace:
    from mlcd.workspace import Workspace

    return Workspace.find()


@app.command()
def snapshot(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    source: Annotated[
        str | None,
        typer.Argument(help="Folder, file or database URL (default: the source in mlcd.yaml)."),
    ] = None,
    append: Annotated[
        bool,
        typer.Option("--append", help="Add SOURCE's files as new partitions on top of latest."),
    ] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="A note.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database source.")] = None,
    table: Annotated[str | None, typer.Option(help="Table for a database source.")] = None,
    rehash: Annotated[
        bool, typer.Option("--rehash", help="Re-hash every file; trust no stat information.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Snapshot SOURCE as the next version of NAME (only new or changed files are read)."""
    from mlcd.cli.progress import ingest_bar
    from mlcd.cli.render import human_bytes, print_json, say

    ws = _workspace()
    with ingest_bar(f"snapshot {name}", options.quiet or json) as bar:
        result = ws.snapshot(
            name,
            source,
            query=query,
            table=table,
            append=append,
            message=message,
            rehash=rehash,
            progress=bar,
        )
    v = result.version
    if json:
        print_json(
            {
                **v.summary(),
                "created": result.created,
                "files_ingested": result.files_ingested,
                "bytes_ingested": result.bytes_ingested,
                "files_reused": result.files_reused,
            }
        )
        return
    if not result.created:
        say(f"{name}: unchanged, identical to {v.ref} (no new version)")
        return
    parent = f", parent {v.name}@{v.parent}" if v.parent else ""
    say(
        f"{v.ref} created: {v.file_count:,} files, {v.rows:,} rows, {human_bytes(v.bytes)}"
        f"{parent} ({result.files_ingested:,} files ingested, "
        f"{human_bytes(result.bytes_ingested)}; {result.files_reused:,} reused)"
    )


@app.command("list")
def list_(json: JsonOpt = False) -> None:
    """Every dataset with its latest version."""
    from mlcd.cli.render import human_bytes, out, print_json, table, when

    versions = _workspace().datasets()
    if json:
        print_json([v.summary() for v in versions])
        return
    if not versions:
        out.print("no datasets yet: mlcd data snapshot NAME SOURCE")
        return
    table(
        ["dataset", "latest", "rows", "files", "size", "updated"],
        [
            (v.name, v.ref, f"{v.rows:,}", v.file_count, human_bytes(v.bytes), when(v.created_at))
            for v in versions
        ],
    )


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for latest).")],
    files: Annotated[bool, typer.Option("--files", help="List every file.")] = False,
    json: JsonOpt = False,
) -> None:
    """One version: rows, files, partitions, schema, lineage of the snapshot."""
    from mlcd.cli.render import print_json

    v = _workspace().version(ref, with_files=True)
    if json:
        print_json({**v.summary(), "file_list": [_file_dict(f) for f in v.files]})
        return
    _show(v, files)


def _file_dict(f: FileEntry) -> dict[str, object]:
    return {
        "path": f.path,
        "blob": f.blob,
        "size": f.size,
        "rows": f.rows,
        "partition": f.partition,
    }


def _show(v: DatasetVersion, files: bool) -> None:
    from mlcd.cli.render import fields, human_bytes, out, table, when

    partitions = {tuple(f.partition.items()) for f in v.files if f.partition}
    fields(
        [
            ("version", v.ref),
            ("content id", v.content_id),
            ("parent", f"{v.name}@{v.parent}" if v.parent else "-"),
            ("created", f"{when(v.created_at)} by {v.created_by}"),
            ("source", v.source),
            ("message", v.message or "-"),
            ("format", v.format),
            ("rows", f"{v.rows:,}"),
            ("files", f"{v.file_count:,} ({human_bytes(v.bytes)})"),
            (
                "partitions",
                f"{len(partitions):,} by "
                + ", ".join(f"{k}: {t}" for k, t in v.partitioning.items())
                if v.partitioning
                else "-",
            ),
        ]
    )
    out.print()
    table(
        ["column", "type", "nullable"],
        [(f.name, f.type, f.nullable) for f in v.schema.fields],
        title="schema",
    )
    if len(v.schema.variants) > 1:
        out.print(
            f"schema evolved: {len(v.schema.variants)} file schemas unified "
            "(columns missing from older files read as null)"
        )
    if files:
        table(
            ["path", "rows", "size", "blob"],
            [(f.path, f"{f.rows:,}", human_bytes(f.size), f.blob[:19]) for f in v.files],
            title="files",
        )


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Older version, NAME@V.")],
    b: Annotated[
        str | None, typer.Argument(help="Newer version (default: A against its parent).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Partitions and files added, removed, changed; rows; schema, from A to B."""
    from mlcd.cli.render import out, print_json

    d = _workspace().diff(a, b)
    if json:
        print_json(d.to_dict())
        return
    out.print(f"{d.a} -> {d.b}")
    if d.empty:
        out.print("  identical content")
    delta = d.rows_b - d.rows_a
    out.print(f"  rows: {d.rows_a:,} -> {d.rows_b:,} ({delta:+,})")
    for label, items, mark in [
        ("partitions added", d.partitions_added, "+"),
        ("partitions removed", d.partitions_removed, "-"),
        ("files added", d.files_added, "+"),
        ("files removed", d.files_removed, "-"),
        ("files changed", d.files_changed, "~"),
        ("columns added", d.columns_added, "+"),
        ("columns removed", d.columns_removed, "-"),
        ("columns retyped", d.columns_retyped, "~"),
        ("partition keys changed", d.partitioning_changed, "~"),
    ]:
        if items:
            out.print(f"  {label} ({len(items)}):")
            for item in items[:50]:
                out.print(f"    {mark} {item}")
            if len(items) > 50:
                out.print(f"    ... and {len(items) - 50} more (--json lists all)")


@app.command()
def log(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    json: JsonOpt = False,
) -> None:
    """The history of a dataset, newest first."""
    from mlcd.cli.render import human_bytes, print_json, table, when

    versions = _workspace().log(name)
    if json:
        print_json([v.summary() for v in versions])
        return
    table(
        ["version", "created", "by", "rows", "files", "size", "content", "message"],
        [
            (
                v.ref,
                when(v.created_at),
                v.created_by,
                f"{v.rows:,}",
                v.file_count,
                human_bytes(v.bytes),
                v.content_id[:15],
                v.message or "",
            )
            for v in versions
        ],
    )


@app.command("used-by")
def used_by(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    json: JsonOpt = False,
) -> None:
    """Model versions and runs that consumed a dataset version."""
    from mlcd.cli.render import out, print_json, table

    found = _workspace().used_by(ref)
    if json:
        print_json(found)
        return
    if not found["models"] and not found["runs"]:
        out.print(f"{found['dataset']}: no model or run has used it")
        return
    if found["models"]:
        table(
            ["model", "role", "run"],
            [(m["ref"], m["role"], m["run"] or "-") for m in found["models"]],
            title="models",
        )
    if found["runs"]:
        table(
            ["run", "status", "started"],
            [(r["run"], r["status"], r["started_at"]) for r in found["runs"]],
            title="runs",
        )


@app.command()
def materialize(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    dest: Annotated[Path, typer.Argument(help="A new or empty folder.")],
    json: JsonOpt = False,
) -> None:
    """Write the exact files of a version to DEST, verified against their hashes."""
    from mlcd.cli.render import human_bytes, out, print_json

    v = _workspace().materialize(ref, dest)
    if json:
        print_json(
            {"ref": v.ref, "dest": str(dest.absolute()), "files": v.file_count, "bytes": v.bytes}
        )
        return
    out.print(f"{v.ref}: {v.file_count:,} files ({human_bytes(v.bytes)}) written to {dest}")
