"""The one helper that hides a password in a database URL, for messages and records."""

from __future__ import annotations

import pytest

from mlcd.meta.db import hide_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://me:s3cret@db:5432/ops", "postgresql+psycopg://me:***@db:5432/ops"),
        ("postgresql://me@db/ops", "postgresql://me@db/ops"),
        ("sqlite:///ops.db", "sqlite:///ops.db"),
        ("postgresql://me:s3cret@db:port/ops", "<database>"),  # unparseable: all of it hidden
        ("not a url with s3cret", "<database>"),
    ],
)
def test_hide_password(url: str, shown: str) -> None:
    assert hide_password(url) == shown
