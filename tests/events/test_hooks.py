"""`mlcd hooks install`: a post-commit hook in a real git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlcd.errors import HookError
from mlcd.events.hooks import BACKUP_SUFFIX, MARKER
from mlcd.workspace import Workspace
from tests.conftest import git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def repo(ws: Workspace) -> Path:
    git(ws.root, "init", "-q")
    return ws.root


def test_install_writes_an_executable_mlcd_hook(ws: Workspace, repo: Path) -> None:
    hook = ws.install_hook()
    assert hook == repo / ".git" / "hooks" / "post-commit"
    assert os.access(hook, os.X_OK)
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n") and MARKER in text
    assert text.rstrip().endswith("exec mlcd run")
    # re-installing replaces mlcd's own hook
    assert ws.install_hook(command="mlcd run train") == hook
    assert hook.read_text().rstrip().endswith("exec mlcd run train")
    assert not hook.with_name("post-commit" + BACKUP_SUFFIX).exists()


def test_a_foreign_hook_is_refused_unless_forced(ws: Workspace, repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\necho theirs\n")
    with pytest.raises(HookError, match="exists and was not written by mlcd") as info:
        ws.install_hook()
    assert info.value.hint is not None and "--force" in info.value.hint
    assert hook.read_text() == "#!/bin/sh\necho theirs\n"

    ws.install_hook(force=True)
    assert MARKER in hook.read_text()
    assert hook.with_name("post-commit" + BACKUP_SUFFIX).read_text() == "#!/bin/sh\necho theirs\n"


def test_outside_a_git_repository_is_an_error(ws: Workspace) -> None:
    with pytest.raises(HookError, match="is not inside a git repository") as info:
        ws.install_hook()
    assert info.value.hint is not None and "git init" in info.value.hint


@pytest.mark.slow
def test_a_commit_runs_the_pipeline_in_the_workspace_with_this_mlcd(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    root = repo / "ml"  # a workspace in a sub-folder of the repository
    Workspace.init(root).close()
    config = yaml.safe_load((root / "mlcd.yaml").read_text())
    config["steps"] = {"hello": {"run": "echo hi > hi.txt", "outputs": {"hi": "hi.txt"}}}
    (root / "mlcd.yaml").write_text(yaml.safe_dump(config))
    with Workspace(root) as ws:
        ws.install_hook()
    git(repo, "add", "-A")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no venv on PATH: the hook brings its own
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    with Workspace(root) as ws:
        (run,) = ws.runs()
    assert run.status == "succeeded" and (root / "hi.txt").read_text() == "hi\n"
    assert run.git is not None and run.git["commit"] == head and not run.git["dirty"]
