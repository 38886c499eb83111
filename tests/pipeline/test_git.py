"""Code version capture on real repositories: commit, branch, dirty states and their hashes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlcd.errors import DirtyWorkTreeError, GitError
from mlcd.pipeline.git import GitInfo, capture_git, require_clean
from tests.conftest import git


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no user or system config, and no walking up into a repository that encloses tmp_path
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('train')\n")
    (root / "eval script.py").write_text("print('eval')\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "src").mkdir()
    (root / "src" / "model.py").write_text("WIDTH = 8\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_checkout(repo: Path) -> None:
    info = capture_git(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert info == GitInfo(commit=head, branch="main", dirty=False, diff_hash=None)
    assert info.commit is not None and len(info.commit) == 40
    require_clean(info)  # does not raise


def test_ignored_files_keep_the_tree_clean(repo: Path) -> None:
    (repo / "run.log").write_text("noise\n")
    info = capture_git(repo)
    assert info is not None and not info.dirty and info.diff_hash is None


def test_tracked_change_makes_the_tree_dirty(repo: Path) -> None:
    (repo / "src" / "model.py").write_text("WIDTH = 16\n")
    info = capture_git(repo)
    assert info is not None
    assert info.dirty
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert info.changes == ("src/model.py",)
    assert info.diff_hash is not None and info.diff_hash.startswith("b3:")


def test_dirty_states_hash_by_content(repo: Path) -> None:
    model = repo / "src" / "model.py"
    model.write_text("WIDTH = 16\n")
    first = capture_git(repo)
    assert capture_git(repo) == first  # the same state hashes the same
    model.write_text("WIDTH = 32\n")
    second = capture_git(repo)
    assert first is not None and second is not None
    assert second.changes == first.changes
    assert second.diff_hash != first.diff_hash
    git(repo, "add", "src/model.py")  # staging does not change what the tree holds
    assert capture_git(repo) == second
    model.write_text("WIDTH = 8\n")  # staged change undone in the tree: HEAD's files would run
    assert capture_git(repo) == GitInfo(second.commit, "main", dirty=False, diff_hash=None)


def test_untracked_files_count_with_their_content(repo: Path) -> None:
    notes = repo / "my notes.txt"  # a space: paths are parsed whole
    notes.write_text("one\n")
    first = capture_git(repo)
    assert first is not None
    assert first.dirty and first.changes == ("my notes.txt",)
    notes.write_text("two\n")  # `git diff HEAD` does not show it: only its content hash does
    second = capture_git(repo)
    assert second is not None and second.diff_hash != first.diff_hash
    (repo / "src" / "extra.py").write_text("")
    third = capture_git(repo)
    assert third is not None
    assert third.changes == ("my notes.txt", "src/extra.py")
    assert third.diff_hash not in (first.diff_hash, second.diff_hash)


def test_paths_with_spaces_are_parsed_whole(repo: Path) -> None:
    (repo / "eval script.py").write_text("print('changed')\n")
    (repo / "new notes.txt").write_text("")
    info = capture_git(repo)
    assert info is not None and info.changes == ("eval script.py", "new notes.txt")


def test_deleted_file_is_a_change(repo: Path) -> None:
    (repo / "train.py").unlink()
    info = capture_git(repo)
    assert info is not None and info.dirty and info.changes == ("train.py",)


def test_capture_from_a_subfolder_sees_the_whole_repository(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    info = capture_git(repo / "src")
    assert info == capture_git(repo)
    assert info is not None and info.changes == ("train.py",)


def test_detached_head_has_no_branch(repo: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "second")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture_git(repo)
    assert info == GitInfo(commit=first, branch=None, dirty=False, diff_hash=None)


def test_repository_without_commits_is_dirty(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    empty = capture_git(root)
    assert empty is not None
    assert (empty.commit, empty.branch, empty.dirty, empty.changes) == (None, "trunk", True, ())
    assert empty.diff_hash is not None
    (root / "a.py").write_text("x = 1\n")
    git(root, "add", "a.py")
    staged = capture_git(root)
    assert staged is not None and staged.changes == ("a.py",)
    assert staged.diff_hash not in (None, empty.diff_hash)
    with pytest.raises(DirtyWorkTreeError, match="no commits yet"):
        require_clean(staged)


def test_outside_a_repository_is_none(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert capture_git(folder) is None


def test_without_git_installed_is_none(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    assert capture_git(repo) is None


def test_a_broken_repository_is_an_error_not_none(repo: Path) -> None:
    (repo / ".git" / "config").write_text("[core\n")
    with pytest.raises(GitError, match="bad config"):
        capture_git(repo)


def test_require_clean_names_the_changed_paths(repo: Path) -> None:
    for i in range(7):
        (repo / f"new{i}.txt").write_text(str(i))
    with pytest.raises(DirtyWorkTreeError) as caught:
        require_clean(capture_git(repo))
    message = caught.value.message
    assert "new0.txt, new1.txt, new2.txt, new3.txt, new4.txt and 2 more" in message
    assert "new5.txt" not in message
    assert caught.value.hint == "commit or stash your changes, or run without --require-clean"


def test_require_clean_outside_git() -> None:
    with pytest.raises(DirtyWorkTreeError, match="no git repository") as caught:
        require_clean(None)
    assert caught.value.hint is not None and "--require-clean" in caught.value.hint


def test_dict_round_trip_through_json(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    info = capture_git(repo)
    assert info is not None
    data = json.loads(json.dumps(info.to_dict()))
    assert data["changes"] == ["train.py"]
    assert GitInfo.from_dict(data) == info
