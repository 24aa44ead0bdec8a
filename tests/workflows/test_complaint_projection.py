"""The complaint projection is idempotent and ordered, and rebuildable from its inputs alone."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from activities.complaints import ComplaintActivities, ComplaintProjection, complaint_rows
from activities.deps import ActivityDeps
from domain import complaint_transitions as t
from domain.complaint import Assessment, ComplaintEvent, ComplaintIntake, Withdrawal
from domain.complaint_state import Change, receive
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.registry import PROJECTORS
from projections.tables import complaint_events, complaints

T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
INTAKE = ComplaintIntake.model_validate(
    {
        "client_id": "c-9",
        "channel": "branch",
        "content": "My statement shows a trade I never made.",
        "complainant": {"name": "Qian Wei", "email": "qw@example.cn"},
    }
)


def projections() -> list[ComplaintProjection]:
    """Three consecutive events of one complaint, as the workflow would send them."""
    policy = Policy()
    first = receive("k-9", INTAKE, T0, policy)
    ack = t.acknowledge(first.complaint, T0, "sent")
    cmd = Assessment(
        category="transaction_processing", severity="high", department="ops", handler="h"
    )
    changes: list[Change] = [first, ack, t.assess(ack.complaint, cmd, T0, policy)]
    out = []
    previous = None
    for seq, change in enumerate(changes, start=1):
        event = ComplaintEvent(
            seq=seq,
            kind=change.kind,
            at=T0,
            stage_from=previous,
            stage_to=change.complaint.stage,
            data=change.data,
            detail=change.detail,
        )
        out.append(
            ComplaintProjection(
                workflow_id="complaint-k-9",
                seq=seq,
                complaint=change.complaint,
                intake=INTAKE,
                event=event,
            )
        )
        previous = change.complaint.stage
    return out


def stored(engine: Engine) -> tuple[str, int, int]:
    with engine.connect() as conn:
        stage, seq = conn.execute(select(complaints.c.stage, complaints.c.seq)).one()
        events = conn.execute(select(func.count()).select_from(complaint_events)).scalar_one()
    return stage, seq, events


def test_retries_and_late_events_change_nothing(db: Engine, keyring: KeyRing) -> None:
    project = ComplaintActivities(ActivityDeps(engine=db, cipher=FieldCipher(keyring))).project
    received, acknowledged, assessed = projections()
    project(received)
    project(assessed)
    assert stored(db) == ("investigation", 3, 2)
    assert project(acknowledged) == 1  # its event is new; the older state is not applied
    assert stored(db) == ("investigation", 3, 3)
    assert project(assessed) == 0  # a retry
    assert stored(db) == ("investigation", 3, 3)


def test_the_rows_come_from_the_registered_projector(keyring: KeyRing) -> None:
    projector = PROJECTORS["project_complaint"]
    assert projector.model is ComplaintProjection and projector.rows is complaint_rows
    writes = complaint_rows(projections()[-1], FieldCipher(keyring))
    row = writes[0].rows[0]
    assert (row["stage"], row["category"], row["handler"]) == (
        "investigation",
        "transaction_processing",
        "h",
    )
    plain = repr({k: v for k, v in row.items() if not k.endswith("_enc")})
    assert "Qian Wei" not in plain and "qw@example.cn" not in plain and "trade" not in plain


def test_event_details_are_sealed_per_event(keyring: KeyRing) -> None:
    cipher = FieldCipher(keyring)
    base = projections()[-1]
    change = t.withdraw(base.complaint, Withdrawal(reason="Moved my account away"), T0)
    update = {"seq": 4, "kind": change.kind, "data": change.data, "detail": change.detail}
    event = base.event.model_copy(update=update)
    p = base.model_copy(update={"seq": 4, "event": event, "complaint": change.complaint})
    [_, events] = complaint_rows(p, cipher)
    sealed = events.rows[0]["detail_enc"]
    context = "complaint_events.detail_enc:complaint-k-9:4"
    assert cipher.open(sealed, context=context) == {"reason": "Moved my account away"}
    assert events.rows[0]["data"] == {"outcome": "withdrawn"}
