"""The `mlcd` entry point: global options, command groups, and the one place errors are caught."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from mlcd._version import __version__
from mlcd.cli.state import options


def _version(value: bool) -> None:
    if value:
        print(f"mlcd {__version__}")
        raise typer.Exit()


def _global(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Tracebacks for internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    options.quiet = quiet
    options.verbose = verbose


def init(
    path: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
    project: Annotated[str | None, typer.Option(help="Project name (default: folder).")] = None,
) -> None:
    """Create mlcd.yaml and .mlcd/ in PATH (default: here)."""
    from mlcd.cli.render import out
    from mlcd.workspace import Workspace

    ws = Workspace.init(path, project=project)
    out.print(f"Initialised mlcd workspace {ws.config.project!r} in {ws.root}")
    out.print("Next: mlcd data snapshot NAME SOURCE")


def demo(
    path: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "mlcd-demo"
    ),
) -> None:
    """A guided tour in a new workspace: data, checks, a pipeline, the registry (~10 s)."""
    from mlcd.demo import run_demo

    run_demo(path, quiet=options.quiet)


def _cli(module: str) -> Any:
    """A command module, imported only when its command is built (start-up is per command)."""
    import importlib

    return importlib.import_module(f"mlcd.cli.{module}")


def _data_app() -> typer.Typer:
    app: typer.Typer = _cli("data").app
    if not any(c.name == "profile" for c in app.registered_commands):
        app.command("profile")(_cli("check").profile)
    return app


_COMMANDS: dict[str, Callable[[typer.Typer], Any]] = {
    "init": lambda a: a.command("init")(init),
    "demo": lambda a: a.command("demo")(demo),
    "data": lambda a: a.add_typer(_data_app(), name="data"),
    "run": lambda a: a.command("run")(_cli("run").run),
    "dag": lambda a: a.command("dag")(_cli("run").dag),
    "runs": lambda a: a.add_typer(_cli("runs").app, name="runs"),
    "logs": lambda a: a.command("logs")(_cli("runs").logs),
    "env": lambda a: a.add_typer(_cli("env").app, name="env"),
    "events": lambda a: a.add_typer(_cli("events").app, name="events"),
    "watch": lambda a: a.command("watch")(_cli("events").watch),
    "hooks": lambda a: a.add_typer(_cli("events").hooks, name="hooks"),
    "models": lambda a: a.add_typer(_cli("models").app, name="models"),
    "check": lambda a: a.add_typer(_cli("check").app, name="check"),
    "fsck": lambda a: a.command("fsck")(_cli("store").fsck),
    "gc": lambda a: a.command("gc")(_cli("store").gc),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI with every command, or with just `only`: typer turns each registered function
    into a click command on every call (~40 ms for all of them), so a command that is named
    on the command line is built alone."""
    application = typer.Typer(
        name="mlcd",
        help="Continuous delivery for machine learning: versioned data, pipelines, registry, "
        "release.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    application.callback()(_global)
    for name, register in _COMMANDS.items():
        if only is None or name == only:
            register(application)
    return application


def __getattr__(name: str) -> Any:
    # `app` (every command) is built on first use: `mlcd run` needs only its own command
    if name == "app":
        return build_app()
    raise AttributeError(name)


def _command_in(argv: list[str]) -> str | None:
    """The command word of argv (after global options), if it names a known command."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; MlcdError becomes `error:`/`hint:` and exit 1, Ctrl-C exits 130."""
    import click

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    code: Any
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args[: args.index("--") if "--" in args else None]
    try:
        code = build_app(_command_in(args))(args=args, prog_name="mlcd", standalone_mode=False)
    except click.exceptions.Exit as exc:  # raised by eager options such as --version
        code = exc.exit_code
    except click.ClickException as exc:  # usage errors, printed the way click does
        exc.show()
        if as_json:
            from mlcd.cli.render import print_json

            print_json({"error": {"type": "UsageError", "message": exc.format_message()}})
        code = exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        code = 130
    except Exception as exc:
        code = _report(exc, as_json)
    if code == 130:  # typer returns Ctrl-C as a silent exit 130
        print("interrupted", file=sys.stderr, flush=True)
    sys.exit(code if isinstance(code, int) else 0)


def _interrupt(signum: int, frame: Any) -> None:
    # Unwind gracefully, but never hang: a signal that lands inside a `with lock:` of a thread
    # pool can leave the lock held and the unwinding deadlocked. Every write is crash-safe, so
    # leaving hard after a grace period loses nothing.
    timer = threading.Timer(5.0, _leave)
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def _leave() -> None:
    print("interrupted", file=sys.stderr, flush=True)
    os._exit(130)


def _report(exc: Exception, as_json: bool = False) -> int:
    """Print an error for people (stderr) and, under `--json`, for scripts too: stdout then
    holds `{"error": {"type", "message", "hint"}}` instead of nothing."""
    from mlcd.errors import MlcdError

    if as_json:
        from mlcd.cli.render import print_json

        if isinstance(exc, MlcdError):
            error = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        else:
            error = {"type": "InternalError", "message": f"{type(exc).__name__}: {exc}"}
        print_json({"error": error})
    if isinstance(exc, MlcdError):
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    if options.verbose:
        traceback.print_exc()
    else:
        print("this is a bug in mlcd; rerun with --verbose and report it", file=sys.stderr)
    return 2


if __name__ == "__main__":
    main()
