"""Who is acting: the CI system's user when running in CI, else the OS user."""

from __future__ import annotations

import getpass
import os

_CI_USERS = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR", "CIRCLE_USERNAME")
MAX_LENGTH = 128  # the `created_by` columns: PostgreSQL enforces their length, SQLite does not


def current_user() -> str:
    return _user()[:MAX_LENGTH]


def _user() -> str:
    for var in _CI_USERS:
        if value := os.environ.get(var):
            return f"ci:{value}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return f"uid:{os.getuid()}"
