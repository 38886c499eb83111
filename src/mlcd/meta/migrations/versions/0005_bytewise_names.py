"""PostgreSQL compares names, aliases and file paths bytewise ("C"), as SQLite and Python do.

A server's default collation (say en-US) ignores case and punctuation at first, so listings,
manifests and "known datasets" hints came out in another order than on SQLite. SQLite: no-op.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = [  # (table, column, length; None for text): every text column mlcd sorts by
    ("datasets", "name", 128),
    ("dataset_files", "path", None),
    ("models", "name", 128),
    ("model_aliases", "alias", 128),
    ("alias_history", "alias", 128),
    ("model_datasets", "dataset", 128),
    ("model_datasets", "role", 32),
]


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        kind = sa.Text(collation=collation) if length is None else sa.String(length, collation)
        op.alter_column(table, column, type_=kind, existing_nullable=False)


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)
