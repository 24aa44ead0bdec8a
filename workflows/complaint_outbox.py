"""The complaint workflow's notifications: queued by handlers, sent in order by the main loop.

Queuing keeps a command's answer independent of the message gateway; `workflows.outbox` sends
(its id format makes a replayed or retried send the same outbox row, and a send that keeps
failing is reported back as failed, which the workflow records, instead of holding up the
complaint).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotifyRequest
    from domain.complaint_state import Complaint
    from domain.consent import Purpose
    from workflows.complaint_effects import (
        Recipient,
        notice_params,
        notices_for,
        preferred_channel,
    )
    from workflows.outbox import notification_id, send

__all__ = ["Outbox", "request", "send"]

# The complainant is told of progress too: the assessment done (who handles it, by when) and a
# reopening (was: staff only). Complaints started before this queue no such message.
PROGRESS_NOTICES = "complaint-progress-notices"
PROGRESS = frozenset({"assessed", "reopened"})


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
        notification_id=notification_id(wid, seq, template, recipient),
        workflow_id=wid,
        client_id=c.client_id,
        recipient_kind=recipient,
        recipient_id=staff,
        purpose=Purpose.COMPLAINT,
        template=template,
        channel=preferred_channel(c) if recipient == "client" else None,
        params=notice_params(c, template),
    )
