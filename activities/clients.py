"""The client service's read models: the `clients` row and its `service_tasks` rows.

One projection activity per workflow event: its input carries the client's whole current record
(when it changed) and every task row the event touched, all under the event's `seq`, so a retry
or a late delivery changes nothing and the auditor can rebuild both tables from the history.
Personal data arrives sealed under the client's own key (from the command layer; plaintext in
inputs recorded before that) and is sealed again under the ring here; only the blind indexes
are computed from its plaintext, which never leaves this module.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.deps import ActivityDeps
from activities.projection import write_rows
from domain.client import ClientFile
from domain.enums import RiskProfile, ServiceStatus, Tier
from domain.holiday_dates import HolidayTable, holiday_table
from domain.policy import HolidayPolicy
from domain.questionnaire import RiskAssessment
from projections.crypto import FieldCipher, column_context
from projections.registry import Write, projector
from projections.tables import clients, service_tasks

PROJECT_CLIENT_SERVICE = "project_client_service"


class TaskStatus(StrEnum):
    DUE = "due"  # waiting for the advisor
    OVERDUE = "overdue"  # past its grace period, escalated; stays visible until done
    DONE = "done"  # outcome recorded, or greeting sent
    SUPPRESSED = "suppressed"  # greeting not sent: no consent, or do-not-contact
    CANCELLED = "cancelled"  # the client left before it was done


class ClientRecord(BaseModel):
    """The `clients` row as of one workflow event."""

    file: ClientFile
    tier: Tier
    risk: RiskAssessment | None
    risk_assessed_at: datetime | None
    status: ServiceStatus
    next_service_due: datetime | None
    next_service_kind: str | None
    segment: dict[str, Any] | None
    missing_fields: list[str]
    onboarded_at: datetime
    erased_at: datetime | None = None


class TaskRecord(BaseModel):
    """A `service_tasks` row. `outcome` holds figures and flags; `outcome_text` free text."""

    task_id: str
    kind: str
    due_at: datetime
    status: TaskStatus
    advisor_id: str | None = None
    tier: Tier | None = None
    escalated_to: str | None = None
    completed_at: datetime | None = None
    outcome: dict[str, Any] | None = None
    outcome_text: dict[str, str] | None = None


class ClientServiceProjection(BaseModel):
    workflow_id: str
    client_id: str
    seq: int
    at: datetime
    client: ClientRecord | None = None
    tasks: list[TaskRecord] = []
    policy_version: str | None = None
    """The published policy version the workflow acted under (None: the policy file)."""


# What a PIPL deletion leaves empty; everything else in the row is an audit fact.
ERASED_COLUMNS: dict[str, Any] = dict.fromkeys(
    ("profile_enc", "name_enc", "phone_hash", "email_hash", "id_number_hash", "birth_month_day")
)


def client_row(
    workflow_id: str, seq: int, at: datetime, rec: ClientRecord, cipher: FieldCipher
) -> dict[str, Any]:
    f, basic = rec.file, rec.file.basic
    return {
        "client_id": f.client_id,
        "workflow_id": workflow_id,
        "seq": seq,
        "kind": f.kind.value,
        "tier": rec.tier.value,
        "risk_profile": (rec.risk.profile if rec.risk else RiskProfile.UNASSESSED).value,
        "risk_level": rec.risk.level.value if rec.risk else None,
        "risk_assessed_at": rec.risk_assessed_at,
        "advisor_id": f.advisor_id,
        "status": rec.status.value,
        "next_service_due": rec.next_service_due,
        "next_service_kind": rec.next_service_kind,
        "aum": f.metrics.aum,
        "annual_contribution": f.metrics.annual_contribution,
        "transactions_12m": f.metrics.transactions_12m,
        "segment": rec.segment or {},
        # The notify activity reads consents from here: it is the one place they are checked.
        "consents": {"granted": f.consents.model_dump(mode="json")["granted"]},
        "do_not_contact": f.consents.do_not_contact,
        "language": f.language,
        "missing_fields": rec.missing_fields,
        "profile_enc": cipher.seal(
            f.model_dump(mode="json", include={"basic", "financial", "risk_answers"}),
            context=column_context("clients", "profile_enc", f.client_id),
        ),
        "name_enc": cipher.seal(
            basic.name, context=column_context("clients", "name_enc", f.client_id)
        ),
        # The lookup hashes need the plaintext: opened here with the client's data key (none
        # once it is destroyed); the sealed fields themselves are stored as they came.
        "phone_hash": cipher.blind_personal(basic.phone),
        "email_hash": cipher.blind_personal(basic.email),
        "id_number_hash": cipher.blind_personal(basic.id_number),
        "birth_month_day": birthday.strftime("%m-%d") if (birthday := basic.birthday()) else None,
        "onboarded_at": rec.onboarded_at,
        "updated_at": at,
        "erased_at": rec.erased_at,
    } | (ERASED_COLUMNS if rec.erased_at else {})


def task_row(
    workflow_id: str, seq: int, at: datetime, client_id: str, t: TaskRecord, cipher: FieldCipher
) -> dict[str, Any]:
    return {
        "task_id": t.task_id,
        "workflow_id": workflow_id,
        "seq": seq,
        "client_id": client_id,
        "kind": t.kind,
        "due_at": t.due_at,
        "status": t.status.value,
        "advisor_id": t.advisor_id,
        "tier": t.tier.value if t.tier else None,
        "escalated_to": t.escalated_to,
        "completed_at": t.completed_at,
        "outcome": t.outcome,
        "outcome_enc": (
            cipher.seal(
                t.outcome_text, context=column_context("service_tasks", "outcome_enc", t.task_id)
            )
            if t.outcome_text
            else None
        ),
        "updated_at": at,
    }


@projector(PROJECT_CLIENT_SERVICE, ClientServiceProjection)
def client_service_rows(inp: ClientServiceProjection, cipher: FieldCipher) -> list[Write]:
    writes: list[Write] = []
    stamp = {"policy_version": inp.policy_version}
    if inp.client is not None:
        row = client_row(inp.workflow_id, inp.seq, inp.at, inp.client, cipher) | stamp
        writes.append(Write(clients, [row], ("client_id",)))
    if inp.tasks:
        rows = [
            task_row(inp.workflow_id, inp.seq, inp.at, inp.client_id, t, cipher) | stamp
            for t in inp.tasks
        ]
        writes.append(Write(service_tasks, rows, ("task_id",)))
    return writes


class HolidayTableRequest(BaseModel):
    holidays: HolidayPolicy
    first_year: int
    last_year: int


class ClientActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="load_holiday_table")
    def load_holiday_table(self, req: HolidayTableRequest) -> HolidayTable:
        """The greeted holidays' dates, read from the `holidays` package here, outside the
        workflow: recorded in its history, a package upgrade cannot change a replayed past."""
        return holiday_table(req.holidays, req.first_year, req.last_year)

    @activity.defn(name=PROJECT_CLIENT_SERVICE)
    def project_client_service(self, inp: ClientServiceProjection) -> int:
        return write_rows(self._deps, client_service_rows(inp, self._deps.cipher))
