"""KpiReportWorkflow against real PostgreSQL, on the time-skipping server and (schedule) the dev
server. The seeded month and its hand-worked figures are in `tests/reports/seed.py`."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from temporalio.client import (
    Client,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import ActivityDeps
from activities.kpi import KpiActivities, KpiComputeInput
from activities.policy import PolicyActivities
from audit.sources import saved_json
from commands import report as report_commands
from commands.base import CommandContext, CommandError
from commands.schedules import ensure_kpi_schedule
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from infra.deployment import versioned_worker
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import kpi_snapshots
from tests.helpers.histories import recording_dir
from tests.reports.seed import APRIL_START, MARCH_START, Y, seed_march
from workflows.kpi_report import KpiReportInput, KpiReportWorkflow

MARCH = f"{Y}-03"


async def _worker(client: Client, engine: Engine, keyring: KeyRing) -> AsyncIterator[str]:
    queue = f"kpi-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with versioned_worker(
            client,
            task_queue=queue,
            workflows=[KpiReportWorkflow],
            activities=[
                KpiActivities(deps).compute_kpi_snapshots,
                PolicyActivities(deps, client).policy_in_force,
            ],
            activity_executor=pool,
        ):
            yield queue


@pytest.fixture
async def queue(ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing) -> AsyncIterator[str]:
    async for q in _worker(ts_env.client, db, keyring):
        yield q


async def _run(env: WorkflowEnvironment, queue: str, **inp: Any) -> Any:
    return await env.client.execute_workflow(
        KpiReportWorkflow.run,
        KpiReportInput(policy=Policy(), **inp),
        id=f"kpi-report-test-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


async def _record(client: Client, workflow_id: str, name: str) -> None:
    """With RECORD_KPI_HISTORIES=1, saves the run for `tests/test_replay_saved_histories.py`,
    decrypted (it holds a policy and aggregate figures, no personal data)."""
    if os.environ.get("RECORD_KPI_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    text = await saved_json(history, client.data_converter.payload_codec)
    await asyncio.to_thread((recording_dir() / f"{name}.json").write_text, text)


def _snapshots(engine: Engine, period: str) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(kpi_snapshots).where(kpi_snapshots.c.period == period))
        return {(r.scope, r.scope_id): r._asdict() for r in rows}


async def test_march_snapshots_hold_the_hand_worked_figures(
    ts_env: WorkflowEnvironment, queue: str, db: Engine
) -> None:
    seed_march(db)
    result = await _run(ts_env, queue, period=MARCH)
    assert (result.period, result.snapshots, result.advisors, result.departments) == (
        MARCH, 5, 2, 2,
    )  # fmt: skip
    rows = _snapshots(db, MARCH)
    assert set(rows) == {
        ("firm", "firm"), ("advisor", "adv-a"), ("advisor", "adv-b"),
        ("department", "it"), ("department", "ops"),
    }  # fmt: skip
    firm = rows[("firm", "firm")]
    assert firm["period_start"] == MARCH_START
    m = firm["metrics"]
    assert (m["callbacks_due"], m["callbacks_on_time"], m["callback_completion"]) == (4, 2, 0.5)
    assert (m["csat"], m["nps"]) == (pytest.approx(2 / 3, abs=1e-4), 0.0)
    assert (m["deadline_due"], m["deadline_met"]) == (3, 1)
    assert (m["resolution_days_p50"], m["resolution_days_p90"]) == (6.0, 20.0)
    assert (m["complaint_satisfaction"], m["complaint_satisfaction_mean"]) == (0.5, 3.0)
    assert (m["complaints_received"], m["repeat_complaint_count"]) == (5, 2)
    assert (m["clients_start"], m["clients_new"], m["clients_end"], m["retention"]) == (
        4, 1, 4, 0.75,
    )  # fmt: skip
    assert (m["aum_start"], m["aum_end"]) == (12_500_000.0, 16_610_000.0)
    assert (m["net_new_money"], m["market_movement"]) == (3_950_000.0, 160_000.0)
    assert m["complaint_analysis"]["by_category"] == {"fees": 3, "service": 2}
    assert m["complaint_analysis"]["peak_hour"] == 9
    assert m["appraisal"]["total"] is not None
    assert result.firm["callback_completion"] == 0.5
    ops, it = rows[("department", "ops")]["metrics"], rows[("department", "it")]["metrics"]
    assert (ops["deadline_met"], ops["deadline_due"], it["deadline_met"], it["deadline_due"]) == (
        1, 2, 0, 1,
    )  # fmt: skip
    adv_b = rows[("advisor", "adv-b")]["metrics"]
    assert (adv_b["callbacks_due"], adv_b["csat"], adv_b["nps"]) == (3, 0.5, -50.0)


async def test_recomputing_a_period_replaces_it(
    ts_env: WorkflowEnvironment, queue: str, db: Engine
) -> None:
    seed_march(db)
    with db.begin() as conn:  # a scope that no longer exists must not survive a recomputation
        conn.execute(
            insert(kpi_snapshots).values(
                period=MARCH, scope="advisor", scope_id="departed", period_start=MARCH_START,
                period_end=MARCH_START + timedelta(days=31), metrics={}, computed_at=MARCH_START,
            )
        )  # fmt: skip
    await _run(ts_env, queue, period=MARCH)
    first = _snapshots(db, MARCH)
    await _run(
        ts_env, queue, period_start=MARCH_START, period_end=first[("firm", "firm")]["period_end"]
    )
    second = _snapshots(db, MARCH)
    assert ("advisor", "departed") not in first
    assert {k: v["metrics"] for k, v in first.items()} == {
        k: v["metrics"] for k, v in second.items()
    }


async def test_without_a_period_it_reports_the_month_before_it_ran(
    ts_env: WorkflowEnvironment, queue: str, db: Engine
) -> None:
    zone = Policy().zone()  # the test server's clock, which other tests may have skipped ahead
    before = ReportingPeriod.month_before(await ts_env.get_current_time(), zone).label
    result = await _run(ts_env, queue)
    after = ReportingPeriod.month_before(await ts_env.get_current_time(), zone).label
    assert result.period in {before, after}
    assert result.snapshots == 1  # an empty database still gets its firm row, all "no evidence"
    assert _snapshots(db, result.period)[("firm", "firm")]["metrics"]["csat"] is None


async def test_a_bad_period_fails_the_run_with_the_reason(
    ts_env: WorkflowEnvironment, queue: str
) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await _run(ts_env, queue, period="2026-13")
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert "01–12" in cause.message


async def test_report_kpi_command_runs_the_period_and_refuses_bad_ones(
    ts_env: WorkflowEnvironment, queue: str, db: Engine
) -> None:
    seed_march(db)
    ctx = CommandContext(client=ts_env.client, policy=Policy(), task_queue=queue)
    out = await report_commands.COMMANDS["kpi"](ctx, None, {"period": MARCH})
    assert (out["workflow_id"], out["period"], out["snapshots"]) == (
        f"kpi-report-{MARCH}",
        MARCH,
        5,
    )
    assert out["firm"]["deadline_compliance"] == pytest.approx(1 / 3, abs=1e-4)
    with pytest.raises(CommandError, match="not both"):
        await report_commands.COMMANDS["kpi"](
            ctx, None, {"period": MARCH, "period_start": f"{Y}-03-01", "period_end": f"{Y}-03-31"}
        )


async def test_kpi_schedule_is_created_once_and_runs_the_workflow(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client, policy = dev_env.client, Policy()
    async for queue in _worker(client, db, keyring):
        schedule_id = f"kpi-report-test-{uuid.uuid4().hex[:6]}"
        assert await ensure_kpi_schedule(client, queue, policy, schedule_id) == "created"
        assert await ensure_kpi_schedule(client, queue, policy, schedule_id) == "updated"
        handle = client.get_schedule_handle(schedule_id)
        desc = await handle.describe()
        # The server stores the cron as a calendar; what matters is when it fires: 03:00 on
        # the 1st of each month, Shanghai time, as `kpi_report_cron` says.
        upcoming = [t.astimezone(policy.zone()) for t in desc.info.next_action_times]
        assert upcoming and all((t.day, t.hour, t.minute) == (1, 3, 0) for t in upcoming)
        assert len({t.month for t in upcoming}) == len(upcoming)
        assert desc.schedule.action.workflow == "KpiReportWorkflow"  # type: ignore[attr-defined]
        # Backfill the run due at 03:00 on 1 April: though it runs today, it must report
        # March, which it can only know from the scheduled time.
        seed_march(db)
        due = APRIL_START.replace(hour=3)
        await handle.backfill(
            ScheduleBackfill(
                start_at=due - timedelta(minutes=1),
                end_at=due + timedelta(minutes=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )
        for _ in range(100):
            desc = await handle.describe()
            if desc.info.recent_actions:
                break
            await asyncio.sleep(0.1)
        action = desc.info.recent_actions[0]
        assert action.scheduled_at == due
        run = client.get_workflow_handle_for(
            KpiReportWorkflow.run,
            action.action.workflow_id,  # type: ignore[attr-defined]
        )
        result = await run.result()
        assert result.period == MARCH
        await _record(client, run.id, "kpi_report_scheduled")
        assert _snapshots(db, MARCH)[("firm", "firm")]["metrics"]["callback_completion"] == 0.5
        await handle.delete()


def test_the_kpi_computation_heartbeats_between_its_steps(db: Engine, keyring: KeyRing) -> None:
    """The attempt is 15 minutes: heartbeats let a dead worker's attempt be retried within the
    heartbeat timeout the workflow sets."""
    seed_march(db)
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = KpiActivities(ActivityDeps(engine=db, cipher=FieldCipher(keyring)))
    period = ReportingPeriod.parse(f"{Y}-03", Policy().zone())
    result = env.run(
        activities.compute_kpi_snapshots,
        KpiComputeInput(period=period, policy=Policy(), computed_at=APRIL_START),
    )
    assert result.snapshots > 0
    assert beats == [("loading",), ("scoring",), ("writing",)]
