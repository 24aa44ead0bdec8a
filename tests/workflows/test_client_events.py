"""Client events: a segment is invited through the consent-checked outbox, attendance recorded."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from temporalio.api.history.v1 import History
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.client_events import (
    ClientEvent,
    ClientEventActivities,
    Invitation,
    InvitePage,
    InviteProgress,
)
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from audit.sources import chain, saved_json
from commands.base import CommandError
from commands.events import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import client_events, clients, event_invitations, notifications
from simulation.year import sleep_until
from tests.helpers.histories import recording_dir
from tests.workflows.test_client_support import client_worker, ctx
from workflows.client_events import ClientEventInput, ClientEventWorkflow

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
    assert {n.client_id for n in outbox if n.status == "queued"} == set(invited)
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


def scheduled(events: Any, activity: str) -> int:
    return sum(
        1
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    )


async def test_a_large_segment_pages_through_runs_holding_counts_only(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """Pages of 5 and 2 pages per run: the invitations continue as new with the cursor, each
    run's history stays small however large the segment, and attendance, asked after the
    invitations' runs ended, is checked against the read model."""
    people = seed(db)
    segment = {"tiers": ["diamond", "platinum", "gold"]}
    in_segment = sorted(
        c for c, p in people.items() if p["tier"] in segment["tiers"] and p["status"] == "active"
    )
    async with client_worker(ts_env.client, db, keyring, ends=["event-ev-big"]) as queue:
        starts = await ts_env.get_current_time() + timedelta(days=10)
        event = ClientEvent.model_validate(
            {"event_id": "ev-big", "kind": "seminar", "title": "Strategy 2027",
             "starts_at": starts.isoformat(), "segment": segment}
        )  # fmt: skip
        handle = await ts_env.client.start_workflow(
            ClientEventWorkflow.run,
            ClientEventInput(event=event, policy=Policy(), invite_page_size=5, pages_per_run=2),
            id="event-ev-big",
            task_queue=queue,
        )
        c = ctx(ts_env.client, queue)
        invited = [cid for cid in in_segment if people[cid]["consent"] == "events"]
        for _ in range(200):  # nothing waits meanwhile, so the invitations may continue as new
            with contextlib.suppress(CommandError, RPCError):  # between runs, a query can fail
                if (await COMMANDS["show"](c, "ev-big", {}))["phase"] == "open":
                    break
            await asyncio.sleep(0.1)
        view = await COMMANDS["attend"](c, "ev-big", {"attended": invited[:2]})
        with pytest.raises(CommandError) as stranger:
            await COMMANDS["attend"](c, "ev-big", {"attended": ["e-nobody"]})
        closed = await COMMANDS["close"](c, "ev-big", {})
        # `close` waits CLOSE_SETTLES of wall time for the no-shows; on a loaded machine the
        # paged recording can take longer, and the command then says `closing`: wait it out.
        for _ in range(300):
            if closed["phase"] == "closed":
                break
            await asyncio.sleep(0.2)
            with contextlib.suppress(CommandError, RPCError):
                closed = await COMMANDS["show"](c, "ev-big", {})
        histories = await chain(ts_env.client, handle.id)
        runs = [h.events for h in histories]
        if os.environ.get("RECORD_EVENT_HISTORIES") == "1":  # the bounded shape, as a replay guard
            # the run that took `close`, answered at once (the earlier shapes are saved already)
            closing_run = next(
                h
                for h in histories
                if any(
                    e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
                    == "close"
                    for e in h.events
                )
            )
            text = await saved_json(closing_run, ts_env.client.data_converter.payload_codec)
            (recording_dir() / "client_event_closed_at_once.json").write_text(text)
    pages = -(-len(in_segment) // 5)
    assert len(runs) >= pages // 2  # continued as new every 2 pages
    invite_pages = [scheduled(r, "invite_page") for r in runs]
    assert max(invite_pages) <= 2 and sum(invite_pages) == pages, invite_pages
    # the no-shows too: `close` was answered at once, so their pages continue as new as well
    absent_pages = [scheduled(r, "still_invited_page") for r in runs]
    assert sum(absent_pages) >= 3 and max(absent_pages) <= 2, absent_pages
    assert closed["phase"] == "closed"
    assert view["counts"]["attended"] == 2
    assert "e-nobody" in stranger.value.message
    suppressed = len(in_segment) - len(invited)
    assert closed["counts"] == {
        "attended": 2,
        "absent": len(invited) - 2,
        "suppressed": suppressed,
    }
    statuses = invitation_rows(db, "ev-big")
    assert set(statuses) == set(in_segment)
    assert sorted(c for c, s in statuses.items() if s == "attended") == invited[:2]
    assert {c for c, s in statuses.items() if s == "absent"} == set(invited[2:])


def test_a_retried_invitation_page_resumes_from_its_heartbeat(db: Engine, keyring: KeyRing) -> None:
    """What the attempt before heartbeated is not sent again: the page's first invitations come
    from the heartbeat, and only the rest go through the outbox."""
    people = seed(db)
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    events = ClientEventActivities(deps, NotificationActivities(deps))
    event = ClientEvent.model_validate(
        {"event_id": "ev-hb", "kind": "exchange", "title": "Meet the team",
         "starts_at": "2027-03-01T09:30:00+08:00", "segment": {"tiers": ["diamond"]}}
    )  # fmt: skip
    page = InvitePage(workflow_id="event-ev-hb", event=event, after_client_id=None, limit=10)
    in_page = sorted(
        c for c, p in people.items() if p["tier"] == "diamond" and p["status"] == "active"
    )[:10]
    earlier = [Invitation(client_id=c, status="invited") for c in in_page[:4]]
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[InviteProgress(invitations=earlier).model_dump()]
    )
    env.on_heartbeat = lambda *details: beats.append(details)
    result = env.run(events.invite_page, page)
    assert [i.client_id for i in result.invitations] == in_page
    assert result.invitations[:4] == earlier
    with db.connect() as conn:
        sent_to = set(conn.execute(select(notifications.c.client_id)).scalars())
    assert sent_to == set(in_page[4:])
    assert len(beats) == len(in_page) - 4


async def test_a_run_continues_as_new_once_its_history_passes_the_byte_budget(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """Pages are not the measure of a history (a page can hold 5,000 ids): with no page limit
    to speak of, the byte budget alone keeps every run small."""
    seed(db)
    budget = 12_000
    async with client_worker(ts_env.client, db, keyring, ends=["event-ev-bytes"]) as queue:
        starts = await ts_env.get_current_time() + timedelta(days=10)
        event = ClientEvent.model_validate(
            {"event_id": "ev-bytes", "kind": "seminar", "title": "Strategy 2027",
             "starts_at": starts.isoformat(), "segment": {"tiers": ["diamond", "platinum", "gold"]}}
        )  # fmt: skip
        inp = ClientEventInput(
            event=event, policy=Policy(), invite_page_size=5, pages_per_run=1000, run_bytes=budget
        )
        handle = await ts_env.client.start_workflow(
            ClientEventWorkflow.run, inp, id="event-ev-bytes", task_queue=queue
        )
        c = ctx(ts_env.client, queue)
        for _ in range(300):
            with contextlib.suppress(CommandError, RPCError):  # between runs, a query can fail
                if (await COMMANDS["show"](c, "ev-bytes", {}))["phase"] == "open":
                    break
            await asyncio.sleep(0.1)
        closed = await COMMANDS["close"](c, "ev-bytes", {})
        histories = await chain(ts_env.client, handle.id)
        if os.environ.get("RECORD_EVENT_HISTORIES") == "1":  # the byte-budgeted shape
            text = await saved_json(histories[0], ts_env.client.data_converter.payload_codec)
            (recording_dir() / "client_event_byte_budget_first_run.json").write_text(text)
    sizes = [History(events=h.events).ByteSize() for h in histories]
    assert closed["phase"] == "closed"
    # a run ends at the first page boundary past the budget (a page here is well under it)
    assert len(sizes) >= 3 and sum(sizes) > 3 * budget, sizes
    assert max(sizes) < 2 * budget, sizes
