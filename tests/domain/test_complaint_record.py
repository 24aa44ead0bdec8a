"""A complaint's record (pure rules): incident date, the complainant's capacity, the extension
approval role and recusal of staff with a direct interest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain import complaint_transitions as t
from domain import deadlines
from domain.complaint import Assessment, ComplaintIntake, ComplaintRuleError, ExtensionRequest
from domain.complaint_state import Complaint, receive
from domain.policy import ComplaintPolicy, Policy

T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
PERSON = {"name": "Wang Fang", "phone": "13800138000"}
ASSESS = {"category": "fees", "severity": "medium", "department": "ops", "handler": "h-1"}


def intake(**overrides: Any) -> ComplaintIntake:
    body = {"client_id": "c-1", "channel": "email", "content": "fees", "complainant": PERSON}
    return ComplaintIntake.model_validate({**body, **overrides})


def investigating(policy: Policy, **overrides: Any) -> Complaint:
    received = receive("k-1", intake(**overrides), T0, policy).complaint
    c = t.acknowledge(received, T0, "sent").complaint
    assessment = Assessment.model_validate({**ASSESS, "complex": True})
    return t.assess(c, assessment, T0, policy).complaint


def test_the_incident_date_is_kept_and_the_clock_runs_from_receipt() -> None:
    change = receive("k-1", intake(incident_date="2027-01-10"), T0, Policy())
    assert change.complaint.incident_date == date(2027, 1, 10)
    assert change.complaint.sla_deadline == deadlines.decision_due(T0, Policy())
    assert change.data["incident_date"] == "2027-01-10"
    assert "incident_date" not in receive("k-2", intake(), T0, Policy()).data


def test_an_incident_after_receipt_is_refused() -> None:
    with pytest.raises(ValidationError, match="incident_date"):
        intake(received_at=T0.isoformat(), incident_date=(T0 + timedelta(days=1)).date())


@pytest.mark.parametrize("capacity", ["representative", "heir"])
def test_a_representative_or_heir_needs_their_authority(capacity: str) -> None:
    with pytest.raises(ValidationError, match="authority"):
        intake(complainant={**PERSON, "capacity": capacity})
    filed = intake(complainant={**PERSON, "capacity": capacity, "authority": "doc-17"})
    assert receive("k-1", filed, T0, Policy()).complaint.complainant_capacity == capacity


def test_only_a_holder_of_the_role_approves_an_extension() -> None:
    policy = Policy(complaints=ComplaintPolicy(extension_approvers=["sen-1"]))
    c = investigating(policy)
    with pytest.raises(ComplaintRuleError, match="extension-approval role"):
        t.extend(c, ExtensionRequest(reason="r", approved_by="m-2"), T0, policy)
    done = t.extend(c, ExtensionRequest(reason="r", approved_by="sen-1"), T0, policy)
    assert done.complaint.extension_approved_by == "sen-1"
    # a policy without the role (as those written before it): anyone but the handler
    assert t.extend(investigating(Policy()), ExtensionRequest(reason="r", approved_by="m-2"),
                    T0, Policy()).complaint.extensions == 1  # fmt: skip


def test_staff_with_a_direct_interest_recuse() -> None:
    policy = Policy()
    c = t.acknowledge(
        receive("k-1", intake(conflicted=["adv-1"]), T0, policy).complaint, T0, "sent"
    ).complaint
    for field in ("handler", "supervisor"):
        cmd = Assessment.model_validate({**ASSESS, field: "adv-1"})
        with pytest.raises(ComplaintRuleError, match="direct interest"):
            t.assess(c, cmd, T0, policy)
    c = investigating(policy, conflicted=["adv-1"])
    with pytest.raises(ComplaintRuleError, match="direct interest"):
        t.extend(c, ExtensionRequest(reason="r", approved_by="adv-1"), T0, policy)
