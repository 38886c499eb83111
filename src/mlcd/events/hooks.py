"""The git post-commit hook that runs the pipeline after every commit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlcd.errors import HookError

if TYPE_CHECKING:
    from mlcd.workspace import Workspace

HOOK = "post-commit"
# how a hook is recognised as mlcd's: only such a hook is replaced without --force
MARKER = "# managed by mlcd: `mlcd hooks install` rewrites this file"
BACKUP_SUFFIX = ".before-mlcd"


def install_git_hook(ws: Workspace, command: str = "mlcd run", *, force: bool = False) -> Path:
    """Write the git post-commit hook that runs `command` in the workspace; returns its path.

    The hook runs the `mlcd` of this interpreter, whatever the PATH of the shell that commits.
    An earlier mlcd hook is replaced; another tool's hook is refused unless `force`, which keeps
    it next to the new one with the suffix `.before-mlcd`.

    Raises:
        HookError: not inside a git repository, git missing, or a foreign hook in the way.
    """
    if not command.strip():
        raise HookError("the hook's command is empty", hint="e.g. --command 'mlcd run'")
    top = Path(_git(ws.root, "rev-parse", "--show-toplevel"))
    hooks = ws.root / _git(ws.root, "rev-parse", "--git-path", "hooks")  # follows core.hooksPath
    hook = hooks / HOOK
    if (hook.is_symlink() or hook.exists()) and not _is_ours(hook):
        if not force:
            raise HookError(
                f"{hook} exists and was not written by mlcd",
                hint=f"add `{command}` to it yourself, or pass --force to replace it "
                f"(it is kept as {HOOK}{BACKUP_SUFFIX})",
            )
        os.replace(hook, hook.with_name(HOOK + BACKUP_SUFFIX))
    hooks.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(ws.root.resolve(), top.resolve())
    script = "\n".join(
        [
            "#!/bin/sh",
            MARKER,
            f"# runs `{command}` in the mlcd workspace after every commit",
            # git points GIT_INDEX_FILE at a path relative to the top, wrong after the cd
            "unset GIT_INDEX_FILE",
            f'cd "$(git rev-parse --show-toplevel)"/{shlex.quote(rel)} || exit 0',
            f"PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH",
            "export PATH",
            f"exec {command}",
            "",
        ]
    )
    tmp = hook.with_name(f".{HOOK}.mlcd-tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return hook


def _is_ours(hook: Path) -> bool:
    try:
        return not hook.is_symlink() and MARKER in hook.read_text(errors="replace")
    except OSError:
        return False


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise HookError("git is not installed, so there is no hook to install")
    done = subprocess.run(
        [git, *args],
        cwd=cwd,
        env={**os.environ, "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.strip()
        if "not a git repository" in reason:
            raise HookError(
                f"{cwd} is not inside a git repository",
                hint="run `git init` first, then `mlcd hooks install`",
            )
        raise HookError(f"git {args[0]} failed in {cwd}: {reason}")
    return done.stdout.strip()
