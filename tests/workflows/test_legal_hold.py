"""A deletion request under the AML hold (policy `privacy.holds`): the client is restricted at
once (no processing, no display, no messages) and shredded when the hold ends, on a durable
timer in its workflow that survives continue-as-new; outside any hold it is shredded at once.

Ten years are skipped on a time-skipping server of this module's own (`private_clock`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext, CommandError
from commands.clients import COMMANDS
from commands.privacy import erase
from domain.deadlines import due_after
from domain.enums import Tier
from domain.periods import Period
from domain.policy import HeldRecords, Policy, PrivacyPolicy, RetentionHold
from domain.policy_versions import PolicyVersion
from infra.keys import KeyRing
from projections.subject_keys import PgSubjectKeys, Sealer
from projections.tables import access_log, clients
from tests.helpers.histories import recording_dir, uncoded_client
from tests.workflows.test_client_onboarding import raw_search_attributes
from tests.workflows.test_client_support import (
    client_body,
    client_worker,
    outbox,
    private_clock,
    run_histories,
    tasks,
)
from workflows.client_service import ClientServiceWorkflow
from workflows.client_service.models import ClientView

AML = RetentionHold(
    name="aml",
    records=[HeldRecords.IDENTITY, HeldRecords.TRANSACTIONS],
    keep_for=Period.parse("P10Y"),
    basis="AML law: customer identity and transaction records",
)
HELD = Policy(privacy=PrivacyPolicy(holds=[AML]))
BY = {"requested_by": "dpo-01", "reason": "PIPL-REQ-1"}


@pytest.fixture(scope="module")
async def env(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as e:
        yield e


def sealer(db: Engine, keyring: KeyRing) -> Sealer:
    """The plain client has no codec to take the ring from: the commands get their sealer."""
    return Sealer(PgSubjectKeys(db, keyring))


def plain(env: WorkflowEnvironment, keyring: KeyRing) -> Client:
    """Histories recorded without the codec, as tests/histories keeps them."""
    return uncoded_client(env.client, keyring)


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """A month at a time: a restricted client sleeps on one timer, so nothing piles up."""
    now = await env.get_current_time()
    while instant > now:
        step = min(instant - now, timedelta(days=30))
        await env.sleep(step)
        now += step


def row(db: Engine, client_id: str) -> Any:
    with db.connect() as conn:
        return conn.execute(select(clients).where(clients.c.client_id == client_id)).one()


def erasures(db: Engine, client_id: str) -> int:
    with db.connect() as conn:
        return len(
            conn.execute(
                select(access_log.c.id).where(
                    access_log.c.client_id == client_id, access_log.c.action == "erase"
                )
            ).all()
        )


async def view(c: CommandContext, client_id: str) -> ClientView:
    return ClientView.model_validate(await COMMANDS["show"](c, client_id, {}))


async def details(client: Client, workflow_id: str) -> str:
    """The UI's current details of the workflow (the SDK's built-in metadata query)."""
    meta = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return meta.current_details


async def hold_timers(client: Client, workflow_id: str) -> list[tuple[timedelta, str]]:
    """(timeout, summary) of every timer in the chain's runs whose summary names a hold."""
    found = []
    for history in await run_histories(client, workflow_id):
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_TIMER_STARTED:
                continue
            summary = event.user_metadata.summary
            said = (await client.data_converter.decode([summary]))[0] if summary.data else ""
            if "hold" in said:
                timeout = event.timer_started_event_attributes.start_to_fire_timeout
                found.append((timeout.ToTimedelta(), said))
    return found


async def test_a_served_client_is_restricted_until_ten_years_after_offboarding(
    env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client = plain(env, keyring)
    cid = "c-held"
    async with client_worker(client, db, keyring, ends=[f"client-{cid}"]) as queue:
        c = CommandContext(client=client, policy=HELD, task_queue=queue, sealer=sealer(db, keyring))
        start = await env.get_current_time()
        birthday = (start + timedelta(days=60)).date()
        await COMMANDS["onboard"](
            c,
            None,
            client_body(
                cid,
                Tier.DIAMOND,
                birth_date=date(1980, birthday.month, min(birthday.day, 28)),
                care=True,
            ),
        )
        first = await view(c, cid)
        assert first.next_service_due is not None
        await skip_to(env, first.next_service_due + timedelta(hours=1))
        open_ids = [t.task_id for t in tasks(db, cid) if t.status == "due"]
        assert open_ids, "a first callback is open"
        sent_before = len(outbox(db, cid))

        answer = await erase(c, cid, BY)
        assert answer["via"] == "workflow" and answer["erased_at"] is None
        assert answer["hold"] == "aml" and answer["restricted_until"] is None, (
            "the relationship still runs: the hold has no end yet"
        )
        shown = await view(c, cid)
        assert shown.restricted and shown.file.basic.name == "(restricted)"
        assert shown.file.basic.phone is None and shown.file.basic.email is None
        assert shown.open_tasks == [] and shown.next_service_due is None
        attrs = await raw_search_attributes(env, f"client-{cid}")
        assert attrs["ServiceStatus"] == "closed" and attrs["NextServiceDue"] is None
        assert (await details(client, f"client-{cid}")).startswith("restricted: ")
        stored = row(db, cid)
        assert stored.profile_enc is not None and stored.erased_at is None, "storage only"
        assert stored.do_not_contact, "queued messages are suppressed at send time"
        rows_before = {t.task_id: t.status for t in tasks(db, cid)}
        assert {rows_before[t] for t in open_ids} == {"cancelled"}

        # The same request again is answered, not applied twice; other commands are refused.
        with pytest.raises(CommandError) as again:
            await erase(c, cid, BY)
        assert "already restricted" in again.value.message
        with pytest.raises(CommandError) as paused:
            await COMMANDS["pause"](c, cid, {})
        assert "restricted" in paused.value.message
        # Bad input is refused by the validator; the workflow task never fails.
        handle = client.get_workflow_handle(f"client-{cid}", result_type=ClientView)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("erase_personal_data", None)

        # The birthday and a year of holidays and callbacks pass: nothing is sent or issued,
        # and the yearly continue-as-new carries the restriction.
        await skip_to(env, start + timedelta(days=400))
        assert len(outbox(db, cid)) == sent_before, "no greeting, reminder or notice"
        assert {t.task_id: t.status for t in tasks(db, cid)} == rows_before
        assert len(await run_histories(client, f"client-{cid}")) >= 2
        assert (await view(c, cid)).restricted

        offboarded = await COMMANDS["offboard"](c, cid, {"reason": "account closed"})
        ends = due_after(datetime.fromisoformat(offboarded["ended_at"]), AML.keep_for, HELD.zone())
        assert datetime.fromisoformat(offboarded["restricted_until"]) == ends
        assert ends.astimezone(HELD.zone()).time().hour == 0, "24:00 of the last day (DOMAIN §8)"

        await skip_to(env, ends - timedelta(days=1))
        assert row(db, cid).profile_enc is not None and erasures(db, cid) == 0
        await skip_to(env, ends + timedelta(hours=1))
        result = await handle.result()
        assert result is not None and result.erased_at is not None and not result.restricted
        assert result.erased_at >= ends
        erased = row(db, cid)
        assert erased.erased_at is not None and erased.profile_enc is None
        assert (erased.name_enc, erased.phone_hash, erased.email_hash) == (None, None, None)
        assert erasures(db, cid) == 1
        timers = await hold_timers(client, f"client-{cid}")
        assert any(str(ends.date()) in said for _, said in timers), timers
        runs = await run_histories(client, f"client-{cid}")
        assert len(runs) >= 11, "a run a year through the hold"
        assert not [
            e
            for r in runs
            for e in r.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        if os.environ.get("RECORD_ERASURE_HISTORIES") == "1":
            (recording_dir() / "client_service_restricted.json").write_text(runs[0].to_json())
            (recording_dir() / "client_service_restricted_shredded.json").write_text(
                runs[-1].to_json()
            )

        # Erased: a further request is answered from the read models, nothing is redone.
        repeat = await erase(c, cid, BY)
        assert repeat["via"] == "read models" and repeat["already_erased"] is True
        assert erasures(db, cid) == 1


async def test_after_offboarding_a_request_holds_then_shreds_and_after_the_hold_at_once(
    env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client = plain(env, keyring)
    held, late, quick, gone = "c-left", "c-left-long-ago", "c-left-just-now", "c-ended"
    ends_ids = [f"client-{i}" for i in (held, late, quick, gone)]
    async with client_worker(client, db, keyring, ends=ends_ids) as queue:
        c = CommandContext(client=client, policy=HELD, task_queue=queue, sealer=sealer(db, keyring))
        # Asked while the offboarded run is still finishing its writes: it is let end, and the
        # request is kept by a run of its own, as for any ended service.
        await COMMANDS["onboard"](c, None, client_body(quick, Tier.GOLD))
        await COMMANDS["offboard"](c, quick, {"reason": "account closed"})
        answer = await erase(c, quick, BY)
        assert answer["hold"] == "aml" and answer["restricted_until"] is not None
        assert (await view(c, quick)).restricted
        # A run terminated (no last view): its row says what it was, its close when it ended.
        await COMMANDS["onboard"](c, None, client_body(gone, Tier.PLATINUM))
        await client.get_workflow_handle(f"client-{gone}").terminate("operator")
        answer = await erase(c, gone, BY)
        assert answer["hold"] == "aml" and answer["restricted_until"] is not None
        assert (await view(c, gone)).tier is Tier.PLATINUM
        for cid in (held, late):
            await COMMANDS["onboard"](c, None, client_body(cid, Tier.GOLD, care=True))
            await COMMANDS["offboard"](c, cid, {"reason": "account closed"})
            await client.get_workflow_handle(f"client-{cid}").result()
        offboarded = await env.get_current_time()

        answer = await erase(c, held, BY)
        assert answer["via"] == "workflow" and answer["erased_at"] is None
        until = answer["restricted_until"]
        assert isinstance(until, datetime)
        assert until - offboarded > timedelta(days=3650)
        shown = await view(c, held)
        assert shown.restricted and shown.file.basic.name == "(restricted)"
        assert shown.tier is Tier.GOLD, "what identifies no one is still shown"
        assert row(db, held).profile_enc is not None, "the stored record stays until the hold ends"
        with pytest.raises(CommandError) as again:
            await erase(c, held, BY)
        assert "already restricted" in again.value.message

        await skip_to(env, until + timedelta(hours=1))
        result = await client.get_workflow_handle(f"client-{held}", result_type=ClientView).result()
        assert result is not None and result.erased_at is not None
        assert row(db, held).profile_enc is None and erasures(db, held) == 1
        assert await hold_timers(client, f"client-{held}"), "the hold's timer is in the history"

        # Ten years after its offboarding, a request for the other client meets no hold: shredded
        # at once, through its workflow.
        assert row(db, late).profile_enc is not None
        answer = await erase(c, late, BY)
        assert answer["erased_at"] is not None and "restricted_until" not in answer
        assert row(db, late).profile_enc is None and erasures(db, late) == 1


async def test_outside_any_hold_an_erasure_shreds_at_once(
    env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client = plain(env, keyring)
    async with client_worker(client, db, keyring, ends=["client-c-free"]) as queue:
        c = CommandContext(
            client=client, policy=Policy(), task_queue=queue, sealer=sealer(db, keyring)
        )
        await COMMANDS["onboard"](c, None, client_body("c-free", Tier.GOLD))
        answer = await erase(c, "c-free", BY)
        assert answer["erased_at"] is not None and "restricted_until" not in answer
        assert row(db, "c-free").profile_enc is None and erasures(db, "c-free") == 1
        result = await client.get_workflow_handle("client-c-free", result_type=ClientView).result()
        assert result is not None and result.file.basic.name == "(erased)"


async def test_a_hold_reaches_a_running_client_with_a_published_policy_version(
    env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """Onboarded under a policy without holds (as running clients were), told of a published
    version that has the AML hold: from its instant, a deletion request restricts."""
    client = plain(env, keyring)
    cid = "c-told"
    async with client_worker(client, db, keyring, ends=[f"client-{cid}"]) as queue:
        c = CommandContext(client=client, policy=Policy(), task_queue=queue)
        await COMMANDS["onboard"](c, None, client_body(cid, Tier.GOLD))
        now = await env.get_current_time()
        version = PolicyVersion(version_id="v-aml", effective_from=now, policy=HELD)
        await client.get_workflow_handle(f"client-{cid}").signal(
            ClientServiceWorkflow.policy_published, version
        )
        for _ in range(100):
            if (await view(c, cid)).policy_version == "v-aml":
                break
            await asyncio.sleep(0.05)
        assert (await view(c, cid)).policy_version == "v-aml"
        answer = await erase(c, cid, BY)
        assert answer["hold"] == "aml" and answer["erased_at"] is None
        assert row(db, cid).profile_enc is not None
