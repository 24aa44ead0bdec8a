"""Per-subject data keys (crypto-shredding): `subject_keys` holds each client's data key wrapped by
the key ring; erasure overwrites it with NULL and keeps the row as a tombstone
(projections/subject_keys.py). Reporting reads none of it; the codec server may see which
subjects were erased (to show `[erased]`), never a key.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
REPORTING = "client_care_reporting"
CODEC = "client_care_codec"


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("kid", sa.String(32)),
        sa.Column("suite", sa.String(16)),
        sa.Column("wrapped_dek", sa.LargeBinary()),
        sa.Column("created_at", TS),
        sa.Column("destroyed_at", TS),
    )
    # The roles exist wherever 0002 ran (it creates them when missing).
    op.execute(f"REVOKE ALL ON subject_keys FROM {REPORTING}")
    op.execute(f"GRANT SELECT (subject_id, destroyed_at) ON subject_keys TO {CODEC}")


def downgrade() -> None:
    op.drop_table("subject_keys")
