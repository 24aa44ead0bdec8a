"""The complaint read models: one idempotent projection activity per recorded event.

The activity input carries the whole state after the event, the intake (personal: sealed here)
and the event itself, so `auditor.py rebuild-projections` can replay it from the history through
the same row function. Sealed columns are bound to their row and column (AES-GCM associated
data, see `sealing_context`): a value copied to another row or column does not open.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.deps import ActivityDeps
from activities.projection import write_rows
from domain.complaint import ComplaintEvent, ComplaintIntake
from domain.complaint_state import Complaint
from projections.crypto import FieldCipher, column_context
from projections.registry import Write, projector
from projections.tables import complaint_events, complaints


class ComplaintProjection(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    seq: int
    complaint: Complaint
    intake: ComplaintIntake
    event: ComplaintEvent
    policy_version: str | None = None
    """The published policy version the complaint acted under (None: the policy file)."""


sealing_context = column_context
"""What a sealed value is bound to: `<table>.<column>:<key...>`; pass it to `cipher.open`."""


def _complaint_row(p: ComplaintProjection, cipher: FieldCipher) -> dict[str, Any]:
    c = p.complaint
    return {
        "complaint_id": c.complaint_id,
        "workflow_id": p.workflow_id,
        "seq": p.seq,
        "client_id": c.client_id,
        "channel": c.channel.value,
        "stage": c.stage.value,
        "category": c.category.value if c.category else None,
        "severity": c.severity.value,
        "department": c.department,
        "handler": c.handler,
        "supervisor": c.supervisor,
        "matter_key": c.matter_key,
        "complex": c.complex,
        "received_at": c.received_at,
        "acknowledged_at": c.acknowledged_at,
        "assessed_at": c.assessed_at,
        "resolved_at": c.resolved_at,
        "closed_at": c.closed_at,
        "sla_deadline": c.sla_deadline,
        "sla_breached": c.sla_breached,
        "escalated": c.escalated,
        "extensions": c.extensions,
        "reopen_count": c.reopen_count,
        "merged_count": c.merged_count,
        "root_cause": c.root_cause.value if c.root_cause else None,
        "outcome": c.outcome.value if c.outcome else None,
        "satisfaction": c.satisfaction,
        "content_enc": cipher.seal(
            p.intake.content,
            context=sealing_context("complaints", "content_enc", c.complaint_id),
        ),
        "complainant_enc": cipher.seal(
            p.intake.complainant.model_dump(mode="json"),
            context=sealing_context("complaints", "complainant_enc", c.complaint_id),
        ),
        "updated_at": p.event.at,
    }


def _event_row(p: ComplaintProjection, cipher: FieldCipher) -> dict[str, Any]:
    e = p.event
    detail = None
    if e.detail:
        context = sealing_context("complaint_events", "detail_enc", p.workflow_id, e.seq)
        detail = cipher.seal(e.detail, context=context)
    return {
        "workflow_id": p.workflow_id,
        "seq": e.seq,
        "complaint_id": p.complaint.complaint_id,
        "kind": e.kind,
        "stage_from": e.stage_from.value if e.stage_from else None,
        "stage_to": e.stage_to.value,
        "actor": e.actor,
        "at": e.at,
        "data": e.data,
        "detail_enc": detail,
        "policy_version": p.policy_version,
    }


@projector("project_complaint", ComplaintProjection)
def complaint_rows(p: ComplaintProjection, cipher: FieldCipher) -> list[Write]:
    return [
        Write(
            complaints,
            [_complaint_row(p, cipher) | {"policy_version": p.policy_version}],
            ("complaint_id",),
        ),
        Write(complaint_events, [_event_row(p, cipher)], ("workflow_id", "seq"), mode="once"),
    ]


class ComplaintActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="project_complaint")
    def project(self, p: ComplaintProjection) -> int:
        """Idempotent and ordered: a retry or a late, older event changes nothing."""
        return write_rows(self._deps, complaint_rows(p, self._deps.cipher))
