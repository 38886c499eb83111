"""Pipeline runs, their steps, and the content-keyed step cache."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("env", sa.Text, nullable=False),
        sa.Column("env_lock", sa.String(67), nullable=False),
        sa.Column("git", sa.Text),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "run_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("key", sa.String(67), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("duration", sa.Float),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("logged", sa.Text, nullable=False),
        sa.Column("stdout", sa.String(67)),
        sa.Column("stderr", sa.String(67)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("run_id", "step", name="uq_run_step"),
    )
    op.create_table(
        "step_cache",
        sa.Column("key", sa.String(67), primary_key=True),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("step_cache")
    op.drop_table("run_steps")
    op.drop_table("runs")
