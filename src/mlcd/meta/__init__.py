"""Metadata DB: SQLAlchemy Core tables, transactions, and Alembic migrations."""

from mlcd.meta.db import Database, known_revisions

__all__ = ["Database", "known_revisions"]
