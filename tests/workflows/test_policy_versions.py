"""A published policy version reaches the workflows already running, from its effective date.

On the time-skipping server with the production worker: a diamond client, a gold client whose
figures the new version's thresholds make diamond, and an open complaint are running when a
version is published with a fortnightly diamond cadence, lower thresholds and a shorter
decision period, effective two days later. Until then nothing changes; from then the diamond
client re-plans on the new cadence (its read-model row names the version), the complaint keeps
the deadline it already told, and the next tier review applies the new thresholds although its
input carries the old policy. The histories replay on the current code.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.deps import ActivityDeps
from activities.kpi import KpiActivities, KpiComputeInput
from activities.policy import publish as store
from audit.sources import chain, saved_json
from commands.base import CommandContext, CommandError
from commands.clients import COMMANDS as CLIENT
from commands.complaints import COMMANDS as COMPLAINT
from commands.policy import COMMANDS as POLICY
from commands.policy import resolve
from domain.enums import Tier
from domain.policy import Policy
from domain.policy_versions import PolicyVersion
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import clients, complaint_events, policy_versions, tier_changes
from tests.helpers.complaint_env import intake
from tests.helpers.histories import recording_dir
from tests.workflows.test_client_commands_safety import task_failures
from tests.workflows.test_client_support import client_body, end_workflow
from worker import build_worker
from workflows.kpi_report import KpiReportInput, KpiReportWorkflow
from workflows.registry import ALL_WORKFLOWS
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

GOLD = "aum = 500000\nannual_contribution = 5000\ntransactions_12m = 2\n"
NEW_POLICY = f"""
[tiers.diamond]
{GOLD}
[tiers.platinum]
{GOLD}
[service.callback_every]
diamond = "P14D"
platinum = "P3M"
gold = "P6M"
regular = "P1Y"

[complaints]
decision_within = "P10D"
"""


COMPUTE = activity._Definition.must_from_callable(KpiActivities.compute_kpi_snapshots).name
STARTED: list[str] = []
"""Workflows a test started, ended with it: a timer left on the shared clock would stop it."""


@pytest.fixture
async def production(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> AsyncIterator[CommandContext]:
    """The production worker (every workflow and activity) on a queue of its own."""
    queue = f"policy-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    ctx = CommandContext(client=ts_env.client, policy=Policy(), task_queue=queue, engine=db)
    with ThreadPoolExecutor(16) as pool:
        async with build_worker(ts_env.client, queue, deps, pool):
            try:
                yield ctx
            finally:
                while STARTED:
                    await end_workflow(ts_env.client, STARTED.pop())
                with db.begin() as conn:  # a version left in force would steer later reviews
                    conn.execute(delete(policy_versions))


async def until(check: Any, what: str, tries: int = 100) -> Any:
    for _ in range(tries):
        try:
            if value := await check():
                return value
        except CommandError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


def due(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["next_service_due"])


async def test_a_published_version_reaches_running_clients_complaints_and_reviews(
    ts_env: WorkflowEnvironment, production: CommandContext, db: Engine, tmp_path: Path
) -> None:
    ctx, client = production, ts_env.client
    run = uuid.uuid4().hex[:6]
    diamond, gold = f"pv-{run}-d", f"pv-{run}-g"
    STARTED.extend([f"client-{diamond}", f"client-{gold}"])
    await CLIENT["onboard"](ctx, None, client_body(diamond, Tier.DIAMOND))
    await CLIENT["onboard"](ctx, None, client_body(gold, Tier.GOLD))
    opened = await COMPLAINT["open"](ctx, None, intake(diamond))
    complaint_id = opened["complaint_id"]
    STARTED.append(f"complaint-{complaint_id}")
    before = await CLIENT["show"](ctx, diamond, {})
    told = (await COMPLAINT["show"](ctx, complaint_id, {}))["sla_deadline"]
    assert before["policy_version"] is None and told is not None

    path = tmp_path / "policy-2027.toml"
    path.write_text(NEW_POLICY, encoding="utf-8")
    effective = await ts_env.get_current_time() + timedelta(days=2)
    body = {"version": f"v-{run}", "effective_from": effective.isoformat(), "published_by": "ops"}
    published = await POLICY["publish"](ctx, str(path), body)
    assert published["stored"] and published["rollout_started"]
    rollout = await client.get_workflow_handle(published["rollout_workflow_id"]).result()
    assert rollout["signalled"] == {"clients": 2, "complaints": 1}
    again = await POLICY["publish"](ctx, str(path), body)  # a retry: nothing twice
    assert not again["stored"] and not again["rollout_started"]
    with pytest.raises(CommandError) as conflict:
        await POLICY["publish"](ctx, str(path), {**body, "effective_from": "2030-01-01"})
    assert conflict.value.code == "conflict"

    pending = await CLIENT["show"](ctx, diamond, {})
    assert pending["policy_pending"] == f"v-{run}" and pending["policy_version"] is None
    assert due(pending) == due(before)  # nothing changes before the effective date

    await ts_env.sleep(timedelta(days=3))
    after = await until(lambda: _in_force(ctx, diamond, f"v-{run}"), "the diamond client switched")
    assert due(after) < due(before)  # the fortnightly grid comes sooner than the monthly one
    with db.connect() as conn:
        stamped = conn.scalar(
            select(clients.c.policy_version).where(clients.c.client_id == diamond)
        )
    assert stamped == f"v-{run}"
    shown = await until(
        lambda: _complaint_in_force(ctx, complaint_id, f"v-{run}"), "the complaint switched"
    )
    assert shown["sla_deadline"] == told  # a deadline told is never shortened

    # The review's input carries the old thresholds; it reads the version in force instead.
    result = await client.execute_workflow(
        TierReviewWorkflow.run,
        TierReviewInput(policy=Policy()),
        id=f"tier-review-pv-{run}",
        task_queue=ctx.task_queue,
    )
    assert result.totals.upgraded >= 1
    await until(
        lambda: _tier_is(ctx, gold, "diamond"), "the gold client upgraded by the new thresholds"
    )
    with db.connect() as conn:
        change = select(tier_changes.c.policy_version).where(tier_changes.c.client_id == gold)
        assert conn.scalar(change) == f"v-{run}"
        events = select(complaint_events.c.policy_version).where(
            complaint_events.c.complaint_id == complaint_id
        )
        assert set(conn.scalars(events)) <= {None, f"v-{run}"}
    policy, versions = resolve(db, Policy(), await ts_env.get_current_time())
    assert versions.version_id == f"v-{run}" and policy.service.callback_every[Tier.DIAMOND]
    listed = await POLICY["list"](ctx, None, {})
    assert f"v-{run}" in {v["version_id"] for v in listed["versions"]}
    assert (await POLICY["show"](ctx, f"v-{run}", {}))["policy"]["complaints"][
        "decision_within"
    ] == "P10D"

    histories = {
        name: await chain(client, workflow_id)
        for name, workflow_id in (
            ("client", f"client-{diamond}"),
            ("complaint", f"complaint-{complaint_id}"),
            ("rollout", published["rollout_workflow_id"]),
            ("tier_review", f"tier-review-pv-{run}"),
        )
    }
    for workflow_id in (f"client-{diamond}", f"client-{gold}", f"complaint-{complaint_id}"):
        assert await task_failures(client.get_workflow_handle(workflow_id)) == [], workflow_id
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=client.data_converter, namespace=client.namespace
    )
    for runs in histories.values():
        for history in runs:
            await replayer.replay_workflow(history)
    if os.environ.get("RECORD_POLICY_HISTORIES") == "1":  # the policy-version shapes
        codec = client.data_converter.payload_codec
        for name, runs in histories.items():
            text = await saved_json(runs[-1], codec)
            (recording_dir() / f"policy_version_{name}.json").write_text(text)


async def _in_force(ctx: CommandContext, client_id: str, version: str) -> dict[str, Any] | None:
    view = await CLIENT["show"](ctx, client_id, {})
    return view if view["policy_version"] == version else None


async def _complaint_in_force(
    ctx: CommandContext, complaint_id: str, version: str
) -> dict[str, Any] | None:
    view = await COMPLAINT["show"](ctx, complaint_id, {})
    return view if view["policy_version"] == version else None


async def _tier_is(ctx: CommandContext, client_id: str, tier: str) -> bool:
    return (await CLIENT["show"](ctx, client_id, {}))["tier"] == tier


async def test_a_kpi_report_weighs_by_the_version_in_force_not_its_input(
    ts_env: WorkflowEnvironment, production: CommandContext, db: Engine
) -> None:
    """The schedule's input holds whichever policy its creator had; the report reads the
    published version in force when it was due, and computes with that one."""
    run = uuid.uuid4().hex[:6]
    now = await ts_env.get_current_time()
    weights = Policy().appraisal.weights.model_copy(update={"csat": 0.9})
    published = PolicyVersion(
        version_id=f"kpi-{run}",
        effective_from=now - timedelta(days=1),
        policy=Policy().model_copy(
            update={"appraisal": Policy().appraisal.model_copy(update={"weights": weights})}
        ),
    )
    assert store(db, published, "ops", now)
    handle = await ts_env.client.start_workflow(
        KpiReportWorkflow.run,
        KpiReportInput(policy=Policy(), period=f"{now.year}-01"),
        id=f"kpi-report-pv-{run}",
        task_queue=production.task_queue,
    )
    await handle.result()
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == COMPUTE
    ]
    (computed,) = await ts_env.client.data_converter.decode(
        scheduled[0].input.payloads, [KpiComputeInput]
    )
    assert computed.policy.appraisal.weights.csat == 0.9
    if os.environ.get("RECORD_POLICY_HISTORIES") == "1":
        text = await saved_json(history, ts_env.client.data_converter.payload_codec)
        (recording_dir() / "policy_version_kpi_report.json").write_text(text)
