"""Who is acting: the CI system's user when running in CI, else the OS user."""

from __future__ import annotations

import getpass
import os

_CI_USERS = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR", "CIRCLE_USERNAME")


def current_user() -> str:
    for var in _CI_USERS:
        if value := os.environ.get(var):
            return f"ci:{value}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return f"uid:{os.getuid()}"
