"""The service's Temporal Schedules, created or brought in line with the policy at worker start.

The policy travels inside each schedule's action, so a changed policy file takes effect on the
next worker start (which calls `ensure_all_schedules`) or with `starter.py report schedule`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from domain.policy import Policy
from workflows.kpi_report import SCHEDULE_ID as KPI_REPORT
from workflows.kpi_report import KpiReportInput, KpiReportWorkflow
from workflows.tier_review import SCHEDULE_ID as TIER_REVIEW
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

# A review missed while the cluster was down still runs within the week, never later.
TIER_REVIEW_CATCHUP = timedelta(days=7)
# Each KPI run reports its own month, so none may be dropped: buffer overlaps, and after an
# outage catch up on up to two missed months.
KPI_REPORT_CATCHUP = timedelta(days=62)


def tier_review_schedule(
    policy: Policy, task_queue: str, schedule_id: str = TIER_REVIEW
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=policy),
            id=schedule_id,
            task_queue=task_queue,
            static_summary="quarterly tier review",
        ),
        spec=ScheduleSpec(
            cron_expressions=[policy.schedules.tier_review_cron], time_zone_name=policy.timezone
        ),
        policy=SchedulePolicy(catchup_window=TIER_REVIEW_CATCHUP),
    )


def kpi_schedule(policy: Policy, task_queue: str, schedule_id: str = KPI_REPORT) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            KpiReportWorkflow.run,
            KpiReportInput(policy=policy),
            id=schedule_id,
            task_queue=task_queue,
            static_summary="KPI snapshots for the month before",
        ),
        spec=ScheduleSpec(
            cron_expressions=[policy.schedules.kpi_report_cron], time_zone_name=policy.timezone
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=KPI_REPORT_CATCHUP
        ),
    )


async def ensure_schedule(
    client: Client, schedule_id: str, schedule: Schedule
) -> Literal["created", "updated"]:
    """Creates the schedule, or replaces an existing one's definition; safe on every start.
    An operator's pause is kept: whether a schedule runs is their decision, not the policy's."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = current.description.schedule.state
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(replace)
    return "updated"


async def ensure_tier_review_schedule(
    client: Client, task_queue: str, policy: Policy, schedule_id: str = TIER_REVIEW
) -> Literal["created", "updated"]:
    return await ensure_schedule(
        client, schedule_id, tier_review_schedule(policy, task_queue, schedule_id)
    )


async def ensure_kpi_schedule(
    client: Client, task_queue: str, policy: Policy, schedule_id: str = KPI_REPORT
) -> Literal["created", "updated"]:
    return await ensure_schedule(client, schedule_id, kpi_schedule(policy, task_queue, schedule_id))


async def ensure_all_schedules(client: Client, task_queue: str, policy: Policy) -> dict[str, str]:
    return {
        TIER_REVIEW: await ensure_tier_review_schedule(client, task_queue, policy),
        KPI_REPORT: await ensure_kpi_schedule(client, task_queue, policy),
    }
