"""`bench/exactly_once.py`, the scale-out benchmark's proof that nothing ran twice, catches what
it is there to catch: an update accepted twice, a complaint event kind twice, a greeting written
twice (a timer handled twice) and an SMS that reached the gateway twice. Each check is run on a
clean case first, so a check that finds nothing at all would fail here too."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from activities.channels import Outgoing, SmsGateway
from bench.exactly_once import (
    Findings,
    GatewayCounter,
    check_commands,
    check_complaint_rows,
    check_greetings,
    check_sends,
    complaint_rows,
    greeting_rows,
)
from projections.tables import complaint_events, notifications

LIFECYCLE = ["acknowledgement", "assess", "investigate", "resolve", "follow_up"]


def history(workflow_id: str, updates: list[str]) -> WorkflowHistory:
    events = []
    for n, name in enumerate(updates, start=1):
        e = HistoryEvent(
            event_id=n, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name = name
        events.append(e)
    return WorkflowHistory(workflow_id, events)


def test_an_update_accepted_twice_is_found() -> None:
    clean = Findings()
    check_commands(clean, [history("complaint-a", LIFECYCLE), history("complaint-b", LIFECYCLE)])
    assert clean.ok and clean.checked["commands"] == 10

    doubled = Findings()
    twice = [*LIFECYCLE[:2], "assess", *LIFECYCLE[2:]]
    check_commands(doubled, [history("complaint-a", LIFECYCLE), history("complaint-b", twice)])
    assert doubled.problems == [
        "complaint-b: update accepted twice: assess x2",
        "complaint with other updates than the others: complaint-b (extra ['assess'])",
    ]


def row(n: int, workflow_id: str, template: str, status: str = "sent") -> dict[str, object]:
    return {
        "notification_id": f"{workflow_id}:{n}:{template}:client",
        "workflow_id": workflow_id,
        "recipient_kind": "client",
        "channel": "sms",
        "purpose": "care",
        "template": template,
        "status": status,
        "created_at": datetime.now(UTC),
    }


def event(workflow_id: str, seq: int, kind: str) -> dict[str, object]:
    at = datetime.now(UTC)
    return {
        "workflow_id": workflow_id,
        "seq": seq,
        "complaint_id": workflow_id,
        "kind": kind,
        "at": at,
    }


def test_a_greeting_written_twice_and_an_event_twice_are_found_in_postgresql(db: Engine) -> None:
    clients = ["client-sf-w2-1", "client-sf-w2-2", "client-sf-w2-3"]
    with db.begin() as conn:
        conn.execute(insert(notifications), [
            row(7, clients[0], "holiday_greeting"),
            row(7, clients[1], "holiday_greeting"),
            row(9, clients[1], "holiday_greeting"),  # the same client's timer handled again
            row(8, clients[2], "holiday_greeting", status="queued"),
            row(5, "client-sf-w4-1", "holiday_greeting"),  # another run's: not counted
        ])  # fmt: skip
        conn.execute(insert(complaint_events), [
            event("complaint-a", 1, "opened"),
            event("complaint-a", 4, "assessed"),
            event("complaint-b", 1, "opened"),
            event("complaint-b", 4, "assessed"),
            event("complaint-b", 6, "assessed"),  # a command applied twice
            event("complaint-c", 1, "opened"),
            event("complaint-c", 4, "assessed"),
            event("complaint-c", 5, "sla_breached"),  # a slow one's deadline: not a difference
        ])  # fmt: skip

    greetings = Findings()
    check_greetings(greetings, greeting_rows(db, "client-sf-w2-", "holiday_greeting"), clients)
    assert greetings.problems == [
        "greeting written twice: client-sf-w2-2 x2",
        f"greeting not sent: {clients[2]}:8:holiday_greeting:client",
    ]

    events = Findings()
    check_complaint_rows(events, complaint_rows(db, ["complaint-a", "complaint-b", "complaint-c"]))
    assert events.problems == [
        "complaint-b: complaint event twice: assessed x2",
        "complaint rows unlike the others: complaint-b (extra ['assessed'])",
    ]
    assert events.checked["complaint event rows"] == 8


def test_an_sms_that_reached_the_gateway_twice_is_found() -> None:
    gateway = GatewayCounter()
    try:
        sms = SmsGateway(gateway.url, None)
        for key in ("client-x:7:holiday_greeting:client", "client-y:7:holiday_greeting:client"):
            msg = Outgoing(key, "holiday_greeting", "sms", "+8613800138000", "", "hi", "", "en")
            sms.send(msg)
        once = Findings()
        sent = ["client-x:7:holiday_greeting:client", "client-y:7:holiday_greeting:client"]
        check_sends(once, sent, gateway.posted(["client-x:", "client-y:"]))
        assert once.ok and once.checked["SMS sends"] == 2

        sms.send(msg)  # a dispatcher's retry of a message already delivered
        twice = Findings()
        check_sends(twice, sent, gateway.posted(["client-x:", "client-y:"]))
        assert twice.problems == [
            "sent to the gateway twice: client-y:7:holiday_greeting:client x2"
        ]
        assert gateway.posted(["client-z:"]) == Counter()
    finally:
        gateway.close()
