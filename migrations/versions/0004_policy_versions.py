"""Published policy versions, and on every row a workflow writes the version it acted under.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
STAMPED = ("clients", "complaints", "complaint_events", "service_tasks", "tier_changes")


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version_id", sa.String(64), primary_key=True),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("policy", JSONB, nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_policy_versions_effective", "policy_versions", ["effective_from"])
    for table in STAMPED:
        op.add_column(table, sa.Column("policy_version", sa.String(64)))


def downgrade() -> None:
    for table in STAMPED:
        op.drop_column(table, "policy_version")
    op.drop_index("ix_policy_versions_effective", table_name="policy_versions")
    op.drop_table("policy_versions")
