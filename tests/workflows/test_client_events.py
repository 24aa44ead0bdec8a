"""Client events: a segment is invited through the consent-checked outbox, attendance recorded."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandError
from commands.events import COMMANDS
from infra.keys import KeyRing
from projections.tables import client_events, clients, event_invitations, notifications
from simulation.year import sleep_until
from tests.workflows.test_client_support import client_worker, ctx

TIERS = ["diamond", "platinum", "gold", "regular"]
PROFILES = ["aggressive", "balanced", "conservative", "unassessed"]
CONSENTS = {
    "events": ({"granted": {"sms": ["events"]}}, False),
    "care_only": ({"granted": {"sms": ["care"]}}, False),
    "do_not_contact": ({"granted": {"sms": ["events"]}}, True),
}


def seed(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every combination of tier, risk profile, consent and status: 4 x 4 x 3 x 2 clients."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    people: dict[str, dict[str, Any]] = {}
    rows = []
    combos = itertools.product(TIERS, PROFILES, CONSENTS, ["active", "paused"])
    for n, (tier, profile, consent, status) in enumerate(combos):
        client_id = f"e-{n:03d}"
        granted, dnc = CONSENTS[consent]
        people[client_id] = {"tier": tier, "profile": profile, "consent": consent, "status": status}
        rows.append(
            {
                "client_id": client_id,
                "workflow_id": f"client-{client_id}",
                "seq": 1,
                "kind": "individual",
                "tier": tier,
                "risk_profile": profile,
                "status": status,
                "consents": granted,
                "do_not_contact": dnc,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(clients), rows)
    return people


def invitation_rows(engine: Engine, event_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(event_invitations).where(event_invitations.c.event_id == event_id)
        )
        return {r.client_id: r.status for r in rows}


async def test_event_invites_its_segment_and_records_attendance(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    people = seed(db)
    async with client_worker(ts_env.client, db, keyring, ends=["event-ev-golf"]) as queue:
        c = ctx(ts_env.client, queue)
        starts = await ts_env.get_current_time() + timedelta(days=30)
        body = {
            "event_id": "ev-golf",
            "kind": "outdoor",
            "title": "Spring golf day",
            "starts_at": starts.isoformat(),
            "segment": {"tiers": ["diamond", "platinum"], "risk_profiles": ["aggressive"]},
        }
        created = await COMMANDS["create"](c, None, body)
        with pytest.raises(CommandError) as twice:
            await COMMANDS["create"](c, None, body)
        # Attendance waits for the invitations to be out, then is recorded.
        in_segment = sorted(
            cid
            for cid, p in people.items()
            if p["tier"] in {"diamond", "platinum"}
            and p["profile"] == "aggressive"
            and p["status"] == "active"
        )
        invited = [cid for cid in in_segment if people[cid]["consent"] == "events"]
        came, missed = invited[:1], invited[1:2]
        view = await COMMANDS["attend"](c, "ev-golf", {"attended": came, "absent": missed})
        with pytest.raises(CommandError) as stranger:
            await COMMANDS["attend"](c, "ev-golf", {"attended": ["e-nobody"]})
        await sleep_until(ts_env, starts + timedelta(days=15))  # past the attendance window
        shown = await COMMANDS["show"](c, "ev-golf", {})

    assert created == {"workflow_id": "event-ev-golf", "event_id": "ev-golf", "phase": "inviting"}
    assert twice.value.code == "conflict"
    assert "e-nobody" in stranger.value.message
    assert view["phase"] == "open"
    statuses = invitation_rows(db, "ev-golf")
    assert set(statuses) == set(in_segment)  # no paused client, nobody outside the segment
    assert {cid for cid, s in statuses.items() if s == "suppressed"} == set(in_segment) - set(
        invited
    )
    assert statuses[came[0]] == "attended"
    assert {cid for cid, s in statuses.items() if s == "absent"} == set(invited) - set(came)
    assert shown["phase"] == "closed"
    assert shown["counts"] == {
        "attended": 1,
        "absent": len(invited) - 1,
        "suppressed": len(in_segment) - len(invited),
    }
    with db.connect() as conn:
        (event,) = conn.execute(select(client_events)).all()
        outbox = conn.execute(select(notifications)).all()
    assert (event.kind, event.title, event.segment["tiers"]) == (
        "outdoor",
        "Spring golf day",
        ["diamond", "platinum"],
    )
    assert {n.client_id for n in outbox if n.status == "sent"} == set(invited)
    assert {(n.purpose, n.template) for n in outbox} == {("events", "event_invitation_outdoor")}
    assert {n.suppressed_reason for n in outbox if n.status == "suppressed"} == {
        "do_not_contact",
        "no consent for events",
    }


async def test_closing_an_event_refuses_later_attendance(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    seed(db)
    async with client_worker(ts_env.client, db, keyring, ends=["event-ev-talk"]) as queue:
        c = ctx(ts_env.client, queue)
        starts = await ts_env.get_current_time() + timedelta(days=7)
        await COMMANDS["create"](
            c,
            None,
            {"event_id": "ev-talk", "kind": "seminar", "title": "Macro outlook 2027",
             "starts_at": starts.isoformat(), "segment": {"tiers": ["gold"]}},
        )  # fmt: skip
        closed = await COMMANDS["close"](c, "ev-talk", {})
        with pytest.raises(CommandError) as late:
            await COMMANDS["attend"](c, "ev-talk", {"attended": ["e-000"]})
        with pytest.raises(CommandError) as bad:
            await COMMANDS["create"](c, None, {"event_id": "ev-x", "kind": "karaoke"})
    assert closed["phase"] == "closed"
    assert set(closed["counts"]) <= {"absent", "suppressed"}
    assert late.value.code in {"rejected", "not_found"}
    assert bad.value.code == "invalid" and "event.kind" in bad.value.message
    assert "event.title" in bad.value.message and "event.starts_at" in bad.value.message
