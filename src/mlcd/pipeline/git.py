"""Which code a run executed: the git commit, branch, and a hash of any uncommitted changes."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blake3 import blake3

from mlcd.errors import DirtyWorkTreeError, GitError
from mlcd.store.base import hash_bytes, hash_file

# `git diff` output depends on user config (prefixes, algorithm, context, abbreviation, external
# tools); pinning them keeps the hash of one work-tree state the same on every machine
_DIFF_OPTIONS = (
    "--binary",
    "--full-index",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--diff-algorithm=myers",
    "--unified=3",
)
_SHOWN = 5  # changed paths named in a DirtyWorkTreeError


@dataclass(frozen=True)
class GitInfo:
    """The code version of a run.

    `dirty` compares the files that would run with the commit: tracked changes against HEAD and
    untracked, non-ignored files (a change staged and then undone leaves the tree clean).
    `diff_hash` identifies that state (`git diff HEAD` plus each untracked path with its content),
    so two different dirty trees on the same commit hash differently; it is None exactly when
    the tree is clean. `commit` is None in a repository without commits: such a tree is always
    dirty, its changes being everything.
    """

    commit: str | None  # full sha
    branch: str | None  # None when HEAD is detached
    dirty: bool
    diff_hash: str | None
    changes: tuple[str, ...] = ()  # changed and untracked paths, relative to the repository root

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "diff_hash": self.diff_hash,
            "changes": list(self.changes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GitInfo:
        return cls(
            commit=data["commit"],
            branch=data["branch"],
            dirty=data["dirty"],
            diff_hash=data["diff_hash"],
            changes=tuple(data.get("changes", ())),
        )


def capture_git(path: str | os.PathLike[str] = ".") -> GitInfo | None:
    """The code version of the work tree containing `path`; None outside git or without git.

    Two git calls on a clean tree (toplevel, status), a third for the diff of a dirty one.

    Raises:
        GitError: git refused the repository (dubious ownership, corrupt), with git's reason.
    """
    git = shutil.which("git")
    if git is None:
        return None
    top = _git(git, path, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(os.fsdecode(top).rstrip("\n"))
    status = _git(git, root, "status", "--porcelain=v2", "--branch", "-z", "-uall", "--no-renames")
    assert status is not None  # the same repository answered a moment ago
    commit, branch, changed, untracked = _parse_status(status)
    clean = GitInfo(commit=commit, branch=branch, dirty=False, diff_hash=None)
    if commit is not None and not (changed or untracked):
        return clean  # the common case in CI: no diff to run
    base = commit or _empty_tree(git, root)
    diff = _git(git, root, "diff", *_DIFF_OPTIONS, base, "--")
    if commit is not None and not (diff or untracked):
        return clean  # a change staged and then undone: the files are HEAD's
    hasher = blake3()
    hasher.update(b"diff\0" + (diff or b""))
    for rel in sorted(untracked):
        hasher.update(b"\0untracked\0" + os.fsencode(rel) + b"\0" + _content_id(root / rel))
    return GitInfo(
        commit=commit,
        branch=branch,
        dirty=True,
        diff_hash="b3:" + hasher.hexdigest(),
        changes=tuple(sorted({*changed, *untracked})),
    )


def require_clean(info: GitInfo | None) -> None:
    """Refuse a run whose code cannot be named by a commit alone.

    Raises:
        DirtyWorkTreeError: outside git, before the first commit, or with uncommitted changes.
    """
    if info is None:
        raise DirtyWorkTreeError(
            "there is no git repository to be clean: a clean run needs a commit to record",
            hint="run inside a git checkout, or run without --require-clean",
        )
    if info.commit is None:
        raise DirtyWorkTreeError(
            "the git repository has no commits yet: a clean run needs a commit to record",
            hint="commit your code, or run without --require-clean",
        )
    if info.dirty:
        shown = ", ".join(info.changes[:_SHOWN])
        more = len(info.changes) - _SHOWN
        raise DirtyWorkTreeError(
            f"the work tree has uncommitted changes: {shown}"
            + (f" and {more} more" if more > 0 else ""),
            hint="commit or stash your changes, or run without --require-clean",
        )


def _git(git: str, cwd: str | os.PathLike[str], *args: str) -> bytes | None:
    """stdout of a git command; None when `cwd` is not in a repository."""
    # C locale: git's messages are matched below; no optional locks: a status we run in the
    # background must not collide with the user's own git commands on index.lock
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    done = subprocess.run(
        [git, *args], cwd=cwd, env=env, input=b"", capture_output=True, check=False
    )
    if done.returncode == 0:
        return done.stdout
    reason = done.stderr.decode(errors="replace").strip()
    if "not a git repository" in reason:
        return None
    hint = "see git's message; `git status` in that folder shows the same"
    if "dubious ownership" in reason:
        hint = "trust the checkout with `git config --global --add safe.directory <path>`"
    raise GitError(f"git {args[0]} failed in {os.fspath(cwd)}: {reason}", hint=hint)


def _parse_status(out: bytes) -> tuple[str | None, str | None, list[str], list[str]]:
    """(commit, branch, changed tracked paths, untracked paths) from `status --porcelain=v2 -z`."""
    commit = branch = None
    changed: list[str] = []
    untracked: list[str] = []
    records = iter(os.fsdecode(out).split("\0"))
    for record in records:
        kind = record[:1]
        if record.startswith("# branch.oid "):
            oid = record.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            head = record.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif kind == "1":  # 1 XY sub mH mI mW hH hI path
            changed.append(record.split(" ", 8)[8])
        elif kind == "2":  # 2 XY sub mH mI mW hH hI Xscore path \0 origPath
            changed.append(record.split(" ", 9)[9])
            changed.append(next(records))
        elif kind == "u":  # u XY sub m1 m2 m3 mW h1 h2 h3 path (an unmerged path)
            changed.append(record.split(" ", 10)[10])
        elif kind == "?":
            untracked.append(record[2:])
    return commit, branch, changed, untracked


def _empty_tree(git: str, root: Path) -> str:
    """The id of the empty tree, the base of a repository without commits (sha1 or sha256)."""
    out = _git(git, root, "hash-object", "-t", "tree", "--stdin")  # stdin is empty
    assert out is not None
    return out.decode().strip()


def _content_id(path: Path) -> bytes:
    """What an untracked path holds; a symlink by its target, as git would store it."""
    try:
        if path.is_symlink():
            return hash_bytes(os.fsencode(os.readlink(path))).encode()
        if path.is_dir():  # a nested repository: git lists it, not its files
            return b"dir"
        return hash_file(path).encode()
    except OSError:  # deleted or unreadable since `git status` listed it
        return b"unreadable"
