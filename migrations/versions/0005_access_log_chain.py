"""The access log is tamper-evident: each row carries its place in a hash chain (`chain_seq`),
the hash of the row before it (`prev_hash`) and its own (`row_hash`), a SHA-256 over the previous
hash and the row's content. A trigger fills them on every insert, whoever inserts: the codec
server's role may add rows but not read them, so the chain is extended by a SECURITY DEFINER
function, under a transaction lock that orders concurrent writers. Rows already there are
chained in id order. `auditor.py verify-access-log` recomputes the chain (audit/access_chain.py
holds the same canonical form).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

# One field, unambiguous whatever it holds: '-' for NULL, else its length in characters, ':'
# and the value. Timestamps as UTC to the microsecond.
_CANONICAL = """
    {r}.chain_seq::text
    || '|' || {r}.id::text
    || '|' || client_care_chain_field({r}.actor)
    || '|' || client_care_chain_field(
        to_char({r}.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
    || '|' || client_care_chain_field({r}.action)
    || '|' || client_care_chain_field({r}.client_id)
    || '|' || client_care_chain_field({r}.workflow_id)
    || '|' || client_care_chain_field({r}.purpose)
"""


def upgrade() -> None:
    op.add_column("access_log", sa.Column("chain_seq", sa.BigInteger()))
    op.add_column("access_log", sa.Column("prev_hash", sa.String(length=64)))
    op.add_column("access_log", sa.Column("row_hash", sa.String(length=64)))
    op.execute(
        """CREATE FUNCTION client_care_chain_field(value text) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE WHEN value IS NULL THEN '-' ELSE length(value)::text || ':' || value END
        $$"""
    )
    op.execute(
        f"""CREATE FUNCTION client_care_chain_access_log() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            last record;
        BEGIN
            -- One writer at a time extends the chain; released at its commit or rollback.
            PERFORM pg_advisory_xact_lock(hashtext('client_care.access_log.chain'));
            SELECT chain_seq, row_hash INTO last FROM access_log
                WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
            NEW.chain_seq := COALESCE(last.chain_seq, 0) + 1;
            NEW.prev_hash := COALESCE(last.row_hash, repeat('0', 64));
            NEW.row_hash := encode(sha256(convert_to(
                NEW.prev_hash || '|' || {_CANONICAL.format(r="NEW")}, 'UTF8')), 'hex');
            RETURN NEW;
        END
        $$"""
    )
    # Chain what is there, oldest first, through the same function.
    op.execute(
        f"""DO $$
        DECLARE
            r access_log%ROWTYPE;
            prev text := repeat('0', 64);
            n bigint := 0;
        BEGIN
            FOR r IN SELECT * FROM access_log ORDER BY id LOOP
                n := n + 1;
                r.chain_seq := n;
                r.prev_hash := prev;
                r.row_hash := encode(sha256(convert_to(prev || '|' || {_CANONICAL.format(r="r")},
                    'UTF8')), 'hex');
                UPDATE access_log SET chain_seq = r.chain_seq, prev_hash = r.prev_hash,
                    row_hash = r.row_hash WHERE id = r.id;
                prev := r.row_hash;
            END LOOP;
        END $$"""
    )
    op.execute(
        "CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION client_care_chain_access_log()"
    )
    op.create_index("ix_access_log_chain", "access_log", ["chain_seq"], unique=True)
    op.execute("REVOKE ALL ON FUNCTION client_care_chain_access_log() FROM PUBLIC")


def downgrade() -> None:
    op.drop_index("ix_access_log_chain", table_name="access_log")
    op.execute("DROP TRIGGER access_log_chain ON access_log")
    op.execute("DROP FUNCTION client_care_chain_access_log()")
    op.execute("DROP FUNCTION client_care_chain_field(text)")
    for column in ("row_hash", "prev_hash", "chain_seq"):
        op.drop_column("access_log", column)
