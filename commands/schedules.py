"""The service's Temporal Schedules, created or brought in line with the policy at worker start."""

from __future__ import annotations

from temporalio.client import Client

from commands.report import ensure_kpi_schedule
from domain.policy import Policy
from workflows.tier_review import ensure_tier_review_schedule


async def ensure_all_schedules(client: Client, task_queue: str, policy: Policy) -> dict[str, str]:
    return {
        "tier-review": await ensure_tier_review_schedule(client, task_queue, policy),
        "kpi-report": await ensure_kpi_schedule(client, task_queue, policy),
    }
