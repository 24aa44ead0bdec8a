"""The codec server's worklist (infra/worklist.py) reads what no search attribute carries: a
complaint's handler, a client's advisor and next duty's kind, and the policy version in force.
Column grants only, each keyed by `workflow_id`: the codec role still cannot select a sealed
column (`*_enc`), a blind index or any other table's rows.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

CODEC = "client_care_codec"
GRANTS = {
    "complaints": "workflow_id, handler",
    "clients": "workflow_id, advisor_id, next_service_kind",
    "policy_versions": "version_id, effective_from, policy, published_at",
}


def upgrade() -> None:
    # The roles exist wherever 0002 ran (it creates them when missing).
    for table, columns in GRANTS.items():
        op.execute(f"GRANT SELECT ({columns}) ON {table} TO {CODEC}")


def downgrade() -> None:
    for table, columns in GRANTS.items():
        op.execute(f"REVOKE SELECT ({columns}) ON {table} FROM {CODEC}")
