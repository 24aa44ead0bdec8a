"""Outbox delivery: the notifications row is the message's state from queued to delivered or
failed (attempts, when to try next, the claim of the dispatcher sending it, the last error);
and the client's language, which chooses the message's template at send time.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("notifications", sa.Column("next_attempt_at", TS))
    op.add_column("notifications", sa.Column("claimed_until", TS))
    op.add_column("notifications", sa.Column("last_error", sa.String(length=200)))
    op.add_column("notifications", sa.Column("updated_at", TS))
    # The old activity sent inside its transaction, so no committed row was left queued; one
    # that was (by hand) is delivered now.
    op.execute("UPDATE notifications SET next_attempt_at = created_at WHERE status = 'queued'")
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )
    op.add_column(
        "clients",
        sa.Column("language", sa.String(length=8), nullable=False, server_default="zh-CN"),
    )


def downgrade() -> None:
    op.drop_column("clients", "language")
    op.drop_index("ix_notifications_due", table_name="notifications")
    for column in ("updated_at", "last_error", "claimed_until", "next_attempt_at", "attempts"):
        op.drop_column("notifications", column)
