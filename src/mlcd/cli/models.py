"""`mlcd models ...`: register, list, show, alias, history, lineage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mlcd.registry.entities import ModelVersion

app = typer.Typer(help="The model registry: versions, aliases, lineage.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RefArg = Annotated[str, typer.Argument(help="NAME@VERSION, NAME@latest or NAME@ALIAS.")]


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from mlcd.errors import MlcdError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MlcdError(f"--{what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="Model name.")],
    path: Annotated[Path, typer.Argument(help="Artifact file or folder (.skops, .onnx, .pt).")],
    run: Annotated[str | None, typer.Option(help="The run that made it (lineage).")] = None,
    flavor: Annotated[str | None, typer.Option(help="sklearn, onnx, torch, pyfunc.")] = None,
    example: Annotated[
        Path | None, typer.Option(help="Example input (.parquet, .csv, .npy) for the signature.")
    ] = None,
    metric: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable).")] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(help="NAME@V=ROLE, or NAME=ROLE with --run (repeatable)."),
    ] = None,
    trust: Annotated[
        list[str] | None, typer.Option(help="A skops type you vouch for (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    json: JsonOpt = False,
) -> None:
    """Register the artifact at PATH as the next version of NAME."""
    from mlcd.cli.render import out, print_json
    from mlcd.errors import MlcdError
    from mlcd.registry.signature import read_example_file
    from mlcd.workspace import Workspace

    try:
        metrics = {k: float(v) for k, v in _pairs(metric, "metric").items()}
    except ValueError as exc:
        raise MlcdError(f"--metric: {exc}", hint="metrics are numbers: --metric auc=0.91") from exc
    v = Workspace.find().register_model(
        name,
        path,
        flavor=flavor,
        example=read_example_file(str(example)) if example else None,
        metrics=metrics,
        tags=_pairs(tag, "tag"),
        description=description,
        run=run,
        datasets=_pairs(dataset, "dataset"),
        trust=trust or (),
    )
    if json:
        print_json(v.to_dict())
        return
    twin = "ONNX twin serves" if v.onnx_serving else "no ONNX serving"
    out.print(f"{v.ref} registered ({v.flavor}, {v.files} files, {twin})")


@app.command("list")
def list_(json: JsonOpt = False) -> None:
    """Every model with its latest version and aliases."""
    from mlcd.cli.render import out, print_json, table, when
    from mlcd.workspace import Workspace

    models = Workspace.find().models()
    if json:
        print_json(
            [
                {
                    "name": m.name,
                    "latest": m.latest,
                    "versions": m.versions,
                    "aliases": m.aliases,
                    "updated_at": m.updated_at,
                }
                for m in models
            ]
        )
        return
    if not models:
        out.print("no models yet: mlcd models register NAME PATH")
        return
    table(
        ["model", "latest", "versions", "aliases", "updated"],
        [
            (
                m.name,
                f"{m.name}@{m.latest}",
                m.versions,
                " ".join(f"{a}->{n}" for a, n in m.aliases.items()),
                when(m.updated_at) if m.updated_at else "",
            )
            for m in models
        ],
    )


@app.command()
def show(ref: RefArg, json: JsonOpt = False) -> None:
    """One version: flavor, signature, ONNX parity, metrics, lineage summary."""
    from mlcd.cli.render import print_json
    from mlcd.workspace import Workspace

    v = Workspace.find().model(ref)
    if json:
        print_json(v.to_dict())
        return
    _show(v)


def _show(v: ModelVersion) -> None:
    from mlcd.cli.render import fields, human_bytes, when

    sig = v.signature.get("inputs") or {}
    inputs = ", ".join(f"{c['name']}:{c['dtype']}" for c in sig.get("columns", [])) or (
        f"{sig.get('dtype')} {sig.get('shape')}" if sig else "unknown (no example)"
    )
    git = v.git or {}
    fields(
        [
            ("version", v.ref + (f"  [{', '.join(v.aliases)}]" if v.aliases else "")),
            ("flavor", v.flavor),
            ("artifact", f"{v.artifact} ({v.files} files, {human_bytes(v.bytes)})"),
            ("inputs", inputs),
            ("onnx", (v.signature.get("onnx") or {}).get("note", "-")),
            ("metrics", " ".join(f"{k}={x:g}" for k, x in v.metrics.items()) or "-"),
            ("tags", " ".join(f"{k}={x}" for k, x in v.tags.items()) or "-"),
            ("run", v.run_id or "-"),
            ("commit", (git.get("commit") or "-") + (" (dirty)" if git.get("dirty") else "")),
            ("seed", v.seed if v.seed is not None else "-"),
            ("datasets", ", ".join(f"{d.ref} ({d.role})" for d in v.datasets) or "-"),
            ("created", f"{when(v.created_at)} by {v.created_by}"),
            ("description", v.description or "-"),
        ]
    )


@app.command()
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")], json: JsonOpt = False
) -> None:
    """Every version of a model, newest first."""
    from mlcd.cli.render import print_json, table, when
    from mlcd.workspace import Workspace

    vs = Workspace.find().model_versions(name)
    if json:
        print_json([v.to_dict() for v in vs])
        return
    table(
        ["version", "flavor", "created", "by", "run", "metrics"],
        [
            (
                v.ref,
                v.flavor,
                when(v.created_at),
                v.created_by,
                v.run_id or "-",
                " ".join(f"{k}={x:g}" for k, x in v.metrics.items()),
            )
            for v in vs
        ],
    )


@app.command()
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. staging, production.")],
    version: Annotated[
        str | None, typer.Argument(help="Version number, latest, or another alias.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    json: JsonOpt = False,
) -> None:
    """Point ALIAS of NAME at VERSION (or --delete it)."""
    from mlcd.cli.render import out, print_json
    from mlcd.errors import MlcdError
    from mlcd.workspace import Workspace

    if (version is None) != delete:
        raise MlcdError("give a VERSION, or --delete to remove the alias")
    move = Workspace.find().set_alias(name, alias_, None if delete else version, reason)
    if json:
        print_json(move.to_dict())
        return
    before = f"{name}@{move.from_version}" if move.from_version else "nothing"
    after = f"{name}@{move.to_version}" if move.to_version else "nothing (removed)"
    out.print(f"{name}@{alias_}: {before} -> {after}")


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="Model name.")], json: JsonOpt = False
) -> None:
    """Every alias move of a model, newest first: from, to, when, who, why."""
    from mlcd.cli.render import print_json, table, when
    from mlcd.workspace import Workspace

    moves = Workspace.find().alias_history(name)
    if json:
        print_json([m.to_dict() for m in moves])
        return
    table(
        ["alias", "from", "to", "when", "by", "reason"],
        [
            (
                m.alias,
                m.from_version or "-",
                m.to_version or "removed",
                when(m.at),
                m.by,
                m.reason or "",
            )
            for m in moves
        ],
    )


@app.command()
def lineage(ref: RefArg, json: JsonOpt = False) -> None:
    """Model -> run -> commit -> steps -> dataset versions -> files, with their hashes."""
    from mlcd.cli.render import out, print_json
    from mlcd.workspace import Workspace

    tree = Workspace.find().lineage(ref)
    if json:
        print_json(tree)
        return
    _print_tree(tree, out.print)


def _print_tree(tree: dict[str, Any], say: Any) -> None:
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"[bold]{tree['model']}[/bold] ({tree['flavor']}) artifact {tree['artifact'][:19]}")
    git = tree.get("git") or {}
    run = tree.get("run")
    if run:
        node = root.add(f"run {run['id']} ({run['status']}): {run['command']}")
        node.add(
            f"commit {git.get('commit') or 'no git'}" + (" (dirty)" if git.get("dirty") else "")
        )
        node.add(f"seed {tree.get('seed')}, env {str(tree.get('env_lock'))[:19]}")
        steps = node.add("steps")
        for s in run["steps"]:
            steps.add(escape(f"{s['step']} [{s['status']}] key {s['key'][:19]}"))
    else:
        root.add("no run recorded (registered by hand)")
    data = root.add("datasets")
    for d in tree["datasets"]:
        dn = data.add(f"{d['dataset']} ({d['role']}) {d['content_id'][:19]}, {d['rows']:,} rows")
        for f in d["files"][:20]:
            dn.add(f"{f['path']} {f['blob'][:19]}")
        if len(d["files"]) > 20:
            dn.add(f"... {len(d['files']) - 20} more files (--json lists all)")
    say(root)
