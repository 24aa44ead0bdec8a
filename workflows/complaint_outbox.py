"""The complaint workflow's notifications: queued by handlers, sent in order by the main loop.

Queuing keeps a command's answer independent of the message gateway. Each notification's id is
`<workflow_id>:<seq>:<template>:<recipient>`, so a replayed or retried send is the same outbox
row. A send that keeps failing is reported back as failed (the workflow records it) instead of
holding up the complaint: the firm's duty is to decide the complaint, whatever the gateway does.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities, NotifyRequest
    from domain.complaint_state import Complaint
    from domain.consent import Purpose
    from workflows.complaint_effects import (
        Recipient,
        notice_params,
        notices_for,
        preferred_channel,
    )

# The complainant is told of progress too: the assessment done (who handles it, by when) and a
# reopening (was: staff only). Complaints started before this queue no such message.
PROGRESS_NOTICES = "complaint-progress-notices"
PROGRESS = frozenset({"assessed", "reopened"})

_NOTIFY_TIMEOUT = timedelta(seconds=30)
_NOTIFY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


class Outbox:
    def __init__(self) -> None:
        self._queue: list[NotifyRequest] = []

    def __bool__(self) -> bool:
        return bool(self._queue)

    def queue_for(self, kind: str, c: Complaint, seq: int) -> None:
        """Queues what event `kind` (recorded as `seq`) calls for."""
        for notice, staff in notices_for(kind, c):
            self._queue.append(request(c, seq, notice.recipient, staff, notice.template))
        if kind in PROGRESS and workflow.patched(PROGRESS_NOTICES):
            self._queue.append(request(c, seq, "client", None, "complaint_progress"))

    def pop(self) -> NotifyRequest | None:
        return self._queue.pop(0) if self._queue else None


def request(
    c: Complaint, seq: int, recipient: Recipient, staff: str | None, template: str
) -> NotifyRequest:
    wid = workflow.info().workflow_id
    return NotifyRequest(
        notification_id=f"{wid}:{seq}:{template}:{recipient}",
        workflow_id=wid,
        client_id=c.client_id,
        recipient_kind=recipient,
        recipient_id=staff,
        purpose=Purpose.COMPLAINT,
        template=template,
        channel=preferred_channel(c) if recipient == "client" else None,
        params=notice_params(c, template),
    )


async def send(req: NotifyRequest) -> str:
    """`sent`, `suppressed` (no consent; the activity decides) or `failed`."""
    try:
        result = await workflow.execute_activity_method(
            NotificationActivities.notify,
            req,
            start_to_close_timeout=_NOTIFY_TIMEOUT,
            retry_policy=_NOTIFY_RETRY,
            summary=f"notify {req.recipient_kind}: {req.template}",
        )
    except ActivityError:
        workflow.logger.warning("complaint notification failed", extra={"template": req.template})
        return "failed"
    return result.status
