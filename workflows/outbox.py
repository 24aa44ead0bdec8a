"""Putting a workflow's message in the outbox (`NotificationActivities.notify`): one id format,
one set of timeouts, one answer when the gateway side keeps failing.

A notification's id is `<workflow_id>:<seq>:<template>:<recipient>`, so a replayed or retried
send is the same outbox row. A send that keeps failing answers `failed` rather than failing the
workflow: the caller records it and goes on (a complaint must be decided, a subject request
answered, whatever the gateway does).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities, NotifyRequest

NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


def notification_id(workflow_id: str, seq: int, template: str, recipient: str) -> str:
    return f"{workflow_id}:{seq}:{template}:{recipient}"


async def send(req: NotifyRequest) -> str:
    """`sent`, `suppressed` (no consent; the activity decides), `queued` or `failed`."""
    try:
        result = await workflow.execute_activity_method(
            NotificationActivities.notify,
            req,
            start_to_close_timeout=NOTIFY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
            summary=f"notify {req.recipient_kind}: {req.template}",
        )
    except ActivityError:
        workflow.logger.warning("notification failed", extra={"template": req.template})
        return "failed"
    return result.status
