"""The read-model schema (SQLAlchemy Core). Alembic migrations create it; this mirrors them.

Idempotency convention: a row written from a workflow carries `workflow_id` and the `seq` of the
workflow event that produced it; a write applies only when its `seq` is newer, so a retried or
late activity never overwrites newer state. Personal data lives only in `*_enc` columns
(AES-GCM ciphertext) and `*_hash` blind indexes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

TS = DateTime(timezone=True)
POLICY_VERSION_DOC = "the published policy version it was written under; null: the policy file"

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("workflow_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("risk_profile", String(16), nullable=False),
    Column("risk_level", String(4)),
    Column("risk_assessed_at", TS),
    Column("advisor_id", String(64)),
    Column("status", String(16), nullable=False),
    Column("next_service_due", TS),
    Column("next_service_kind", String(32)),
    Column("aum", Numeric(20, 2)),
    Column("annual_contribution", Numeric(20, 2)),
    Column("transactions_12m", Integer),
    Column("segment", JSONB, nullable=False, server_default="{}"),
    Column("consents", JSONB, nullable=False, server_default="{}"),
    Column("do_not_contact", Boolean, nullable=False, server_default="false"),
    Column("missing_fields", JSONB, nullable=False, server_default="[]"),
    Column("profile_enc", LargeBinary, doc="basic + financial file, encrypted"),
    Column("name_enc", LargeBinary),
    Column("phone_hash", String(64)),
    Column("email_hash", String(64)),
    Column("id_number_hash", String(64)),
    Column("birth_month_day", String(5), doc="MM-DD, for greeting planning; not identifying"),
    Column("language", String(8), nullable=False, server_default="zh-CN", doc="messages' language"),
    Column("onboarded_at", TS),
    Column("updated_at", TS, nullable=False),
    Column("erased_at", TS, doc="PIPL deletion: personal columns crypto-shredded"),
    Column(
        "policy_version",
        String(64),
        doc="the published policy version it was written under; null: the policy file",
    ),
    Index("ix_clients_tier_status", "tier", "status"),
    Index("ix_clients_advisor", "advisor_id"),
    Index("ix_clients_phone_hash", "phone_hash"),
    Index("ix_clients_id_number_hash", "id_number_hash"),
)

complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("workflow_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("category", String(32)),
    Column("severity", String(16)),
    Column("department", String(64)),
    Column("handler", String(64)),
    Column("supervisor", String(64)),
    Column("matter_key", String(128)),
    Column("complex", Boolean, nullable=False, server_default="false"),
    Column("received_at", TS, nullable=False),
    Column("acknowledged_at", TS),
    Column("assessed_at", TS),
    Column("resolved_at", TS),
    Column("closed_at", TS),
    Column("sla_deadline", TS),
    Column("sla_breached", Boolean, nullable=False, server_default="false"),
    Column("escalated", Boolean, nullable=False, server_default="false"),
    Column("extensions", Integer, nullable=False, server_default="0"),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("merged_count", Integer, nullable=False, server_default="0"),
    Column("root_cause", String(64)),
    Column("outcome", String(32)),
    Column("satisfaction", Integer),
    Column("content_enc", LargeBinary),
    Column("complainant_enc", LargeBinary),
    Column("updated_at", TS, nullable=False),
    Column(
        "policy_version",
        String(64),
        doc="the published policy version it was written under; null: the policy file",
    ),
    Index("ix_complaints_stage_deadline", "stage", "sla_deadline"),
    Index("ix_complaints_category_received", "category", "received_at"),
    Index("ix_complaints_client", "client_id"),
    Index("ix_complaints_department_stage", "department", "stage"),
)

complaint_events = Table(
    "complaint_events",
    metadata,
    Column("workflow_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("complaint_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("stage_from", String(16)),
    Column("stage_to", String(16)),
    Column("actor", String(64)),
    Column("at", TS, nullable=False),
    Column("data", JSONB, nullable=False, server_default="{}", doc="no personal data"),
    Column("detail_enc", LargeBinary, doc="free text of the event, encrypted"),
    Column("policy_version", String(64), doc=POLICY_VERSION_DOC),
    PrimaryKeyConstraint("workflow_id", "seq"),
    Index("ix_complaint_events_complaint", "complaint_id", "at"),
)

service_tasks = Table(
    "service_tasks",
    metadata,
    Column("task_id", String(160), primary_key=True, doc="<workflow_id>:<kind>:<due date>"),
    Column("workflow_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("due_at", TS, nullable=False),
    Column("status", String(16), nullable=False),
    Column("advisor_id", String(64)),
    Column("tier", String(16)),
    Column("escalated_to", String(64)),
    Column("completed_at", TS),
    Column("outcome", JSONB, doc="satisfaction and flags only; free text goes to outcome_enc"),
    Column("outcome_enc", LargeBinary),
    Column("updated_at", TS, nullable=False),
    Column(
        "policy_version",
        String(64),
        doc="the published policy version it was written under; null: the policy file",
    ),
    Index("ix_service_tasks_advisor_status_due", "advisor_id", "status", "due_at"),
    Index("ix_service_tasks_client", "client_id", "due_at"),
    Index("ix_service_tasks_kind_due", "kind", "due_at"),
)

tier_changes = Table(
    "tier_changes",
    metadata,
    Column("client_id", String(64), nullable=False),
    Column("review_id", String(128), nullable=False),
    Column("old_tier", String(16), nullable=False),
    Column("new_tier", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("figures", JSONB, nullable=False),
    Column("at", TS, nullable=False),
    Column("policy_version", String(64), doc=POLICY_VERSION_DOC),
    PrimaryKeyConstraint("client_id", "review_id"),
    Index("ix_tier_changes_at", "at"),
)

tier_review_state = Table(
    "tier_review_state",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("below_count", Integer, nullable=False, server_default="0"),
    Column("last_review_id", String(128)),
    Column("seq", BigInteger, nullable=False, server_default="0", doc="review order: newer wins"),
    Column("updated_at", TS, nullable=False),
)

kpi_snapshots = Table(
    "kpi_snapshots",
    metadata,
    Column("period", String(16), nullable=False, doc="e.g. 2027-03"),
    Column("scope", String(16), nullable=False, doc="firm|advisor|department"),
    Column("scope_id", String(64), nullable=False),
    Column("period_start", TS, nullable=False),
    Column("period_end", TS, nullable=False),
    Column("metrics", JSONB, nullable=False),
    Column("computed_at", TS, nullable=False),
    PrimaryKeyConstraint("period", "scope", "scope_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", String(200), primary_key=True, doc="idempotency key"),
    Column("workflow_id", String(128), nullable=False),
    Column("client_id", String(64)),
    Column("recipient_kind", String(16), nullable=False, doc="client|advisor|handler|supervisor"),
    Column("recipient_id", String(64)),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("template", String(64), nullable=False),
    Column("status", String(16), nullable=False, doc="queued|sending|sent|suppressed|failed"),
    Column("suppressed_reason", String(64)),
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    Column("attempts", Integer, nullable=False, server_default="0", doc="delivery attempts"),
    Column("next_attempt_at", TS, doc="queued: not before this (backoff, contact window)"),
    Column("claimed_until", TS, doc="sending: a dispatcher's claim, retaken after it lapses"),
    Column("last_error", String(200), doc="the error's class and status only, no personal data"),
    Column("updated_at", TS),
    Index("ix_notifications_status", "status", "created_at"),
    Index("ix_notifications_client", "client_id"),
    Index(
        "ix_notifications_due",
        "next_attempt_at",
        postgresql_where=text("status IN ('queued', 'sending')"),
    ),
)

client_events = Table(
    "client_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False, doc="seminar|exchange|outdoor"),
    Column("title", Text, nullable=False),
    Column("starts_at", TS, nullable=False),
    Column("segment", JSONB, nullable=False),
    Column("created_at", TS, nullable=False),
)

event_invitations = Table(
    "event_invitations",
    metadata,
    Column("event_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, doc="invited|suppressed|attended|absent"),
    Column("seq", BigInteger, nullable=False, server_default="0", doc="the event workflow's seq"),
    Column("updated_at", TS, nullable=False),
    PrimaryKeyConstraint("event_id", "client_id"),
)

improvement_measures = Table(
    "improvement_measures",
    metadata,
    Column("measure_id", String(64), primary_key=True),
    Column("cause", String(64), nullable=False),
    Column("category", String(32)),
    Column("measure", Text, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("due", Date, nullable=False),
    Column("status", String(16), nullable=False, doc="open|done"),
    Column("done_at", TS),
    Column("created_at", TS, nullable=False),
)

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", String(64), primary_key=True, doc="the client id"),
    Column("kid", String(32), doc="the ring key that wrapped it"),
    Column("suite", String(16), doc="the cipher suite of the wrap and of the data key"),
    Column("wrapped_dek", LargeBinary, doc="the data key wrapped by the ring; NULL: destroyed"),
    Column("created_at", TS),
    Column("destroyed_at", TS, doc="PIPL erasure: the key was destroyed then"),
)

# Every column that holds a person's data, by table: what a PIPL erasure empties and what the
# projection writer never fills again for an erased client (projections.erasure). A test checks
# that every `*_enc` and `*_hash` column of the schema is named here.
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "clients": (
        "profile_enc",
        "name_enc",
        "phone_hash",
        "email_hash",
        "id_number_hash",
        "birth_month_day",
    ),
    "complaints": ("content_enc", "complainant_enc"),
    "complaint_events": ("detail_enc",),
    "service_tasks": ("outcome_enc",),
}

access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("at", TS, nullable=False),
    Column("action", String(32), nullable=False),
    Column("client_id", String(64)),
    Column("workflow_id", String(128)),
    Column("purpose", String(128)),
    # The hash chain (migration 0005's trigger fills these; audit/access_chain.py checks them).
    Column("chain_seq", BigInteger, doc="place in the chain, assigned under the chain's lock"),
    Column("prev_hash", String(64), doc="row_hash of the row before (64 zeros for the first)"),
    Column("row_hash", String(64), doc="SHA-256 of prev_hash and this row's content"),
    Index("ix_access_log_client", "client_id", "at"),
    Index("ix_access_log_chain", "chain_seq", unique=True),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version_id", String(64), primary_key=True),
    Column("effective_from", TS, nullable=False),
    Column("digest", String(64), nullable=False, doc="sha256 of the policy's canonical JSON"),
    Column("policy", JSONB, nullable=False, doc="the validated policy, no personal data"),
    Column("published_at", TS, nullable=False),
    Column("published_by", String(64), nullable=False),
    Index("ix_policy_versions_effective", "effective_from"),
)
