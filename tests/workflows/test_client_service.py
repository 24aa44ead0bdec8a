"""Years of service on the time-skipping server, counted in the real projection rows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from commands.clients import COMMANDS
from domain.enums import Tier
from domain.periods import Period
from domain.policy import Policy
from infra.keys import KeyRing
from infra.temporal import data_converter
from projections.crypto import FieldCipher, column_context
from projections.tables import clients
from simulation.year import sleep_until
from tests.helpers.sealing import opening_cipher
from tests.workflows.test_client_support import (
    ANSWERS_C4,
    client_body,
    client_worker,
    ctx,
    metrics_for,
    outbox,
    private_clock,
    run_histories,
    tasks,
)
from workflows import search_attributes as sa
from workflows.client_service import ClientServiceWorkflow
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

POLICY = Policy()
SHANGHAI = ZoneInfo("Asia/Shanghai")
GRACE = timedelta(days=7)  # the shipped callback_grace, P7D
JITTER_MAX = timedelta(days=3)  # the shipped callback_jitter, P3D
# First day of the Spring Festival (正月初一), from the published lunar calendar.
SPRING_FESTIVAL = {
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
}


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


def months_after(instant: datetime, months: int) -> datetime:
    return Period(months=months).after(instant)


async def test_callbacks_left_undone_go_overdue_and_escalate_every_month(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(
        own_clock.client, db, keyring, ends=("client-c-dia-overdue", "client-c-reg-overdue")
    ) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-dia-overdue", Tier.DIAMOND))
        await COMMANDS["onboard"](c, None, client_body("c-reg-overdue", Tier.REGULAR))
        # Past the twelfth monthly slot, its jitter and its grace; short of the thirteenth.
        end = months_after(start, 12) + JITTER_MAX + GRACE + timedelta(days=1)
        await sleep_until(own_clock, end)

        diamond = tasks(db, "c-dia-overdue", "callback")
        assert len(diamond) == 12
        assert {r.status for r in diamond} == {"overdue"}
        assert {r.escalated_to for r in diamond} == {"supervision"}
        assert {r.advisor_id for r in diamond} == {"adv-07"}
        gaps = [b.due_at - a.due_at for a, b in itertools.pairwise(diamond)]
        assert all(timedelta(days=28) <= g <= timedelta(days=31) for g in gaps), gaps
        escalations = outbox(db, "c-dia-overdue", "supervisor")
        assert len(escalations) == 12
        assert {n.template for n in escalations} == {"callback_overdue"}
        assert {n.params["task_id"] for n in escalations} == {r.task_id for r in diamond}

        regular = tasks(db, "c-reg-overdue", "callback")
        assert len(regular) == 1
        assert start + timedelta(days=365) <= regular[0].due_at <= end

        # The saved search "NextServiceDue < now" finds the client: its oldest open duty.
        view = await COMMANDS["show"](c, "c-dia-overdue", {})
        oldest = min(datetime.fromisoformat(t["due_at"]) for t in view["open_tasks"])
        described = await own_clock.client.get_workflow_handle("client-c-dia-overdue").describe()
        attributes = described.typed_search_attributes
        assert attributes.get(sa.NEXT_SERVICE_DUE) == oldest < end
        # Superseded overdue callbacks leave the workflow's state, never the table.
        assert [t["task_id"] for t in view["open_tasks"] if t["kind"] == "callback"] == [
            diamond[-1].task_id
        ]
        assert attributes.get(sa.CLIENT_TIER) == "diamond"
        assert attributes.get(sa.SERVICE_STATUS) == "active"


async def test_each_callback_completed_through_the_update(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-dia-done",)) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-dia-done", Tier.DIAMOND))
        done = 0
        while done < 12:
            view = await COMMANDS["show"](c, "c-dia-done", {})
            if not view["open_tasks"]:
                due = datetime.fromisoformat(view["next_service_due"])
                await sleep_until(own_clock, due + timedelta(hours=2))
                continue
            for task in view["open_tasks"]:
                if task["kind"] == "risk_assessment":  # the yearly re-assessment: new answers
                    await COMMANDS["update"](c, "c-dia-done", {"risk_answers": ANSWERS_C4})
                    continue
                # Plan reviews come due too, and are recorded the same way as callbacks.
                recorded = await COMMANDS["callback"](
                    c,
                    "c-dia-done",
                    {
                        "kind": task["kind"],
                        "task_id": task["task_id"],
                        "satisfaction": 4,
                        "recommend": 9,
                        "returns": "as expected",
                        "new_needs": "a trust for the grandchildren",
                    },
                )
                assert recorded["late"] is False
                done += task["kind"] == "callback"
        assert await own_clock.get_current_time() < months_after(start, 12) + JITTER_MAX + GRACE

        rows = tasks(db, "c-dia-done", "callback")
        assert len(rows) == 12
        assert {r.status for r in rows} == {"done"}
        assert all(r.outcome["satisfaction"] == 4 and r.outcome["new_needs"] for r in rows)
        assert {r.outcome["recommend"] for r in rows} == {9}  # the NPS question
        # under the ring, and inside that under the client's own key
        assert opening_cipher(db, keyring).reveal(
            FieldCipher(keyring).open(
                rows[0].outcome_enc,
                context=column_context("service_tasks", "outcome_enc", rows[0].task_id),
            )
        ) == {"returns": "as expected", "new_needs": "a trust for the grandchildren"}
        assert outbox(db, "c-dia-done", "supervisor") == []


async def test_birthday_and_spring_festival_greetings_on_their_local_dates(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(
        own_clock.client, db, keyring, ends=("client-c-greet", "client-c-no-care")
    ) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        local_today = start.astimezone(SHANGHAI).date()
        festival = next(d for y, d in sorted(SPRING_FESTIVAL.items()) if d > local_today)
        # Born 40 years before a day three weeks ahead; the greeting is due on that local date.
        birthday = local_today + timedelta(days=21)
        born = birthday.replace(year=birthday.year - 40)
        body = client_body("c-greet", Tier.GOLD, birth_date=born, care=True)
        await COMMANDS["onboard"](c, None, body)
        await COMMANDS["onboard"](c, None, client_body("c-no-care", Tier.GOLD, birth_date=born))
        await sleep_until(
            own_clock, datetime.combine(festival, datetime.min.time(), UTC) + timedelta(days=2)
        )

        def local(kind: str) -> list[tuple[date, int]]:
            rows = tasks(db, "c-greet", kind)
            return [
                (r.due_at.astimezone(SHANGHAI).date(), r.due_at.astimezone(SHANGHAI).hour)
                for r in rows
            ]

        assert local("birthday_greeting") == [(birthday, 10)]
        holidays = {r.task_id.split(":", 2)[2]: r for r in tasks(db, "c-greet", "holiday_greeting")}
        spring = holidays[f"Chinese New Year (Spring Festival):{festival.year}"]
        assert spring.due_at.astimezone(SHANGHAI).date() == festival
        assert spring.due_at.astimezone(SHANGHAI).hour == 10
        assert {r.status for r in holidays.values()} == {"done"}
        sent = outbox(db, "c-greet", "client")
        assert {n.template for n in sent} >= {"birthday_greeting", "holiday_greeting"}
        assert {(n.purpose, n.channel, n.status) for n in sent} == {("care", "sms", "queued")}
        # No consent to care messages: the calendar plans no greeting for this client at all.
        assert tasks(db, "c-no-care", "birthday_greeting") == []
        assert outbox(db, "c-no-care", "client") == []


async def test_a_paused_client_gets_nothing_until_resumed(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-paused",)) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        born = (start + timedelta(days=40)).date().replace(year=1980)
        await COMMANDS["onboard"](
            c, None, client_body("c-paused", Tier.DIAMOND, birth_date=born, care=True)
        )
        paused = await COMMANDS["pause"](c, "c-paused", {"reason": "abroad for a year"})
        assert paused["status"] == "paused" and paused["next_service_due"] is None
        await sleep_until(own_clock, months_after(start, 12))
        assert tasks(db, "c-paused") == []
        assert outbox(db, "c-paused") == []
        with db.connect() as conn:
            assert (
                conn.execute(
                    select(clients.c.status).where(clients.c.client_id == "c-paused")
                ).scalar()
                == "paused"
            )

        resumed_at = await own_clock.get_current_time()
        await COMMANDS["resume"](c, "c-paused", {})
        await sleep_until(own_clock, resumed_at + timedelta(hours=1))
        # The year's missed callbacks collapse into one, due at once; no burst of twelve.
        callbacks = tasks(db, "c-paused", "callback")
        assert len(callbacks) == 1
        assert resumed_at <= callbacks[0].due_at <= resumed_at + timedelta(minutes=1)


async def test_continue_as_new_keeps_every_run_short_over_three_years(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-long",)) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        born = (start + timedelta(days=100)).date().replace(year=1975)
        await COMMANDS["onboard"](
            c, None, client_body("c-long", Tier.DIAMOND, birth_date=born, care=True)
        )
        await sleep_until(own_clock, months_after(start, 36) + timedelta(days=20))
        runs = await run_histories(own_clock.client, "client-c-long")
        view = await COMMANDS["show"](c, "c-long", {})

    lengths = [len(h.events) for h in runs]
    assert len(runs) >= 3, lengths
    # A year of a diamond client's service is ~12 callbacks, their escalations, 6 greetings and
    # 2 plan reviews: a few hundred events, however many years the client has been served.
    assert max(lengths) < 600, lengths
    assert len(tasks(db, "c-long", "callback")) == 36
    assert len(tasks(db, "c-long", "birthday_greeting")) == 3
    # What the runs carried: the seq counter kept growing, the open tasks are still known.
    with db.connect() as conn:
        row = conn.execute(select(clients.c.seq).where(clients.c.client_id == "c-long")).one()
    assert row.seq > 100
    assert len(view["open_tasks"]) >= 1
    replayer = Replayer(
        workflows=[ClientServiceWorkflow],
        data_converter=data_converter(keyring),
        namespace=own_clock.client.namespace,  # the payloads are bound to it
    )
    for history in runs:
        await replayer.replay_workflow(history)


async def test_pausing_stops_an_open_callback_from_escalating_until_resumed(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-abroad",)) as queue:
        c = ctx(own_clock.client, queue)
        await COMMANDS["onboard"](c, None, client_body("c-abroad", Tier.DIAMOND))
        view = await COMMANDS["show"](c, "c-abroad", {})
        due = datetime.fromisoformat(view["next_service_due"])
        await sleep_until(own_clock, due + timedelta(hours=1))
        await COMMANDS["pause"](c, "c-abroad", {"reason": "abroad"})
        await sleep_until(own_clock, due + GRACE * 3)
        assert [(t.status, t.escalated_to) for t in tasks(db, "c-abroad", "callback")] == [
            ("due", None)
        ]
        resumed_at = await own_clock.get_current_time()
        await COMMANDS["resume"](c, "c-abroad", {})
        await sleep_until(own_clock, resumed_at + timedelta(minutes=5))
    callbacks = tasks(db, "c-abroad", "callback")
    assert callbacks[0].status == "overdue"  # long past its grace: escalated on resume
    (escalation,) = outbox(db, "c-abroad", "supervisor")
    assert escalation.params["task_id"] == callbacks[0].task_id


async def test_a_mid_year_upgrade_replans_the_callback_cadence(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-grows",)) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-grows", Tier.REGULAR))
        # Past month 6's slot whatever the client's jitter: the next monthly slot is month 7's.
        await sleep_until(own_clock, months_after(start, 6) + JITTER_MAX + timedelta(days=1))
        assert tasks(db, "c-grows", "callback") == []
        await COMMANDS["update"](c, "c-grows", {"metrics": metrics_for(Tier.DIAMOND)})
        review = await own_clock.client.execute_workflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=POLICY),
            id=f"tier-review-midyear-{start:%Y%m%d%H%M%S}",
            task_queue=queue,
        )
        upgraded_at = await own_clock.get_current_time()
        await sleep_until(own_clock, months_after(start, 12) + JITTER_MAX + timedelta(hours=1))
        described = await own_clock.client.get_workflow_handle("client-c-grows").describe()
    assert review.totals.upgraded == 1
    callbacks = tasks(db, "c-grows", "callback")
    # The missed monthly slots collapse into one callback at the upgrade; then one for each
    # of months 7 to 12 (the regular client's yearly slot is month 12's).
    assert len(callbacks) == 1 + 6
    assert upgraded_at - timedelta(minutes=1) <= callbacks[0].due_at <= upgraded_at
    assert {r.tier for r in callbacks} == {"diamond"}
    gaps = [b.due_at - a.due_at for a, b in itertools.pairwise(callbacks[1:])]
    assert all(timedelta(days=28) <= g <= timedelta(days=31) for g in gaps), gaps
    assert described.typed_search_attributes.get(sa.CLIENT_TIER) == "diamond"


async def test_an_upgrade_replans_from_the_last_callback_done(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """A gold client called in month 6 and upgraded to diamond two weeks later is next called a
    month after that callback, not at once (as a grid from onboarding would have it)."""
    async with client_worker(own_clock.client, db, keyring, ends=("client-c-called",)) as queue:
        c = ctx(own_clock.client, queue)
        start = await own_clock.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-called", Tier.GOLD))
        await sleep_until(own_clock, months_after(start, 6) + JITTER_MAX + timedelta(hours=1))
        [due] = tasks(db, "c-called", "callback")
        await COMMANDS["callback"](c, "c-called", {"satisfaction": 5})
        called_at = await own_clock.get_current_time()
        await sleep_until(own_clock, called_at + timedelta(days=14))
        await COMMANDS["update"](c, "c-called", {"metrics": metrics_for(Tier.DIAMOND)})
        await own_clock.client.execute_workflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=POLICY),
            id=f"tier-review-called-{start:%Y%m%d%H%M%S}",
            task_queue=queue,
        )
        await sleep_until(own_clock, called_at + timedelta(days=45))
    callbacks = tasks(db, "c-called", "callback")
    assert callbacks[0].task_id == due.task_id and callbacks[0].status == "done"
    assert len(callbacks) == 2, [(r.due_at, r.status) for r in callbacks]
    next_due = callbacks[1].due_at
    assert months_after(called_at, 1) - timedelta(minutes=1) <= next_due
    assert next_due <= months_after(called_at, 1) + timedelta(minutes=1)
    assert callbacks[1].tier == "diamond"
