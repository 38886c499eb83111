"""The one exception hierarchy of mlcd: every user mistake is an `MlcdError` with a hint.

    MlcdError                    exit 1 unless said otherwise
    ├── ConfigError              mlcd.yaml is malformed or names something wrong
    ├── WorkspaceNotFoundError   no mlcd.yaml in this folder or any parent
    ├── InvalidNameError         a name or reference that is malformed or would escape the store
    ├── NotFoundError            a dataset, version or blob that does not exist
    ├── SourceError              a dataset source that is empty, unreadable or corrupt
    ├── SchemaConflictError      files of one snapshot whose schemas cannot be unified
    ├── QueryError               a partition filter or SQL query that fails
    ├── IntegrityError           stored content that does not match its hash
    ├── ArtifactError            a model whose flavor is unknown or that cannot load safely
    ├── StepFailedError          a pipeline step that failed, or did not write its outputs
    ├── DirtyWorkTreeError       a clean commit was required, but the tree has changes or no git
    ├── GitError                 git is installed but failed on the repository
    ├── HookError                a git hook that cannot be installed: no repository, a foreign hook
    ├── MetadataError            the metadata DB is unreachable or at an unknown schema revision
    └── BackendError             a storage backend failed (network, permissions, ...)

Only the CLI entry point catches them; it prints `error:` and `hint:` and exits with `exit_code`.
A traceback means a bug in mlcd.
"""

from __future__ import annotations


class MlcdError(Exception):
    """Base class: a message that names the thing, and a hint that says what to do."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


class ConfigError(MlcdError):
    """mlcd.yaml is malformed, has an unknown key or a value of the wrong type."""


class WorkspaceNotFoundError(MlcdError):
    """No mlcd.yaml in the current folder or any of its parents."""


class InvalidNameError(MlcdError):
    """A name or `name@version` reference that is malformed or would escape the store."""


class NotFoundError(MlcdError):
    """A dataset, version or blob that does not exist."""


class SourceError(MlcdError):
    """A dataset source that is empty, unreadable, of an unknown format, or corrupt."""


class SchemaConflictError(MlcdError):
    """Files of one snapshot whose schemas cannot be unified."""


class QueryError(MlcdError):
    """A partition filter or a SQL source query that fails; the message carries the DB's reason."""


class ArtifactError(MlcdError):
    """A model artifact whose flavor cannot be detected, or that would not load safely."""


class IntegrityError(MlcdError):
    """Stored content that does not match the hash it is addressed by."""


class StepFailedError(MlcdError):
    """A pipeline step exited non-zero, was interrupted, or did not write a declared output."""


class DirtyWorkTreeError(MlcdError):
    """A clean commit was required: the work tree has uncommitted changes, or there is no git."""


class GitError(MlcdError):
    """git failed on a repository (dubious ownership, corrupt repository): the code version of a
    run would go unrecorded, so this is an error rather than "no git"."""


class HookError(MlcdError):
    """A git hook that cannot be installed: not in a git repository, or another tool's hook is
    where mlcd's would go."""


class MetadataError(MlcdError):
    """The metadata DB cannot be opened, or is at a schema revision this mlcd does not know."""


class BackendError(MlcdError):
    """A storage backend failed: network, permissions, a full disk."""
