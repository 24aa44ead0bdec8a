"""Database roles: the application writer, read-only reporting, the auditor, the codec server.

Group roles without LOGIN: a deployment creates login roles with passwords and makes them
members (deploy/postgres/logins.sql). `access_log` is append-only for everyone but the owner:
the writer, the auditor and the codec server may add rows, none may change or remove one.
Roles belong to the cluster, not the database, so creating them tolerates their existing (a
second database on the same server, or two migrations at once); the downgrade revokes this
database's grants and leaves the roles to whatever else uses them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

WRITER = "client_care_writer"  # worker, commands, rebuild: every read model, access_log append-only
REPORTING = "client_care_reporting"  # reports and dashboards: read models, read-only
AUDITOR = "client_care_auditor"  # auditor.py: everything read, its own reads recorded
CODEC = "client_care_codec"  # codec server: records decodes, reads nothing
ROLES = (WRITER, REPORTING, AUDITOR, CODEC)
APPEND_ONLY = "access_log"


def upgrade() -> None:
    for role in ROLES:
        op.execute(
            f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$"""
        )
    everyone = ", ".join(ROLES)
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {everyone}")
    # What the tables hold now; default privileges give later migrations' tables the same.
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {WRITER}"
    )
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {REPORTING}, {AUDITOR}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {WRITER}, {AUDITOR}, {CODEC}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, "
        f"TRUNCATE ON TABLES TO {WRITER}"
    )
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES "
        f"TO {REPORTING}, {AUDITOR}"
    )
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES "
        f"TO {WRITER}, {AUDITOR}, {CODEC}"
    )
    # The access record: added to, never changed; reporting has no business reading who read what.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {APPEND_ONLY} FROM {WRITER}")
    op.execute(f"REVOKE SELECT ON {APPEND_ONLY} FROM {REPORTING}")
    op.execute(f"GRANT INSERT ON {APPEND_ONLY} TO {AUDITOR}, {CODEC}")
    # The schema's version is the migrations' (the owner's) alone.
    op.execute(f"REVOKE ALL ON alembic_version FROM {everyone}")


def downgrade() -> None:
    everyone = ", ".join(ROLES)
    for kind in ("TABLES", "SEQUENCES"):
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON {kind} FROM {everyone}"
        )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {everyone}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {everyone}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {everyone}")
