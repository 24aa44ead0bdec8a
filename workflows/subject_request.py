"""`DataSubjectRequestWorkflow` (id `dsr-<request_id>`): one PIPL data-subject request.

Received and acknowledged to the client at once (the acknowledgement says by when it will be
answered); then it waits for staff to `fulfil` it (the copy, the correction or the erasure,
each done by an activity) or `reject` it with a reason, and the client is told the answer. A
durable timer stands for the deadline: an unanswered request at its deadline is flagged
(`SlaBreached`, as complaints are) and the privacy officer is told; it still waits for its
answer. The state holds ids, codes and instants only; the correction's values are in the
(encrypted) input.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotifyRequest, RecipientKind
    from activities.subject_requests import (
        CopyRequest,
        CorrectionRequest,
        SubjectErasure,
        SubjectErasureResult,
        SubjectRequestActivities,
    )
    from domain import subject_request as sr
    from domain.consent import Purpose
    from domain.localtime import shown
    from domain.subject_request import (
        SealedCopy,
        SubjectRequest,
        SubjectRequestEvent,
        SubjectRequestKind,
    )
    from workflows import search_attributes as sa
    from workflows.outbox import notification_id, send
    from workflows.refusals import refusal, refusing
    from workflows.subject_request_models import (
        WORKFLOW_TYPE,
        FulfilRequest,
        RejectRequest,
        SubjectRequestInput,
        SubjectRequestTimeline,
    )

ACKNOWLEDGED = "subject_request_acknowledged"
ANSWERED = "subject_request_answered"
OVERDUE = "subject_request_overdue"
TEMPLATES = (ACKNOWLEDGED, ANSWERED, OVERDUE)
"""Every message this workflow queues (the client's two, the officer's one)."""
_CLOCK_SKEW = timedelta(minutes=5)
_TICK = timedelta(milliseconds=1)
_WORK_TIMEOUT = timedelta(minutes=2)
_WORK_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=5)


# Pinned like a complaint: a request finishes on the code that told the client its deadline.
@workflow.defn(name=WORKFLOW_TYPE, versioning_behavior=VersioningBehavior.PINNED)
class DataSubjectRequestWorkflow:
    @workflow.init
    def __init__(self, inp: SubjectRequestInput) -> None:
        self._inp = inp
        self._policy = inp.policy
        self._seq = 0
        self._version = 0
        self._busy = False
        self._events: list[SubjectRequestEvent] = []
        received_at = inp.filing.received_at or workflow.info().workflow_start_time
        self._r: SubjectRequest = sr.receive(
            inp.request_id, inp.filing.client_id, inp.filing.kind, received_at, inp.policy
        )
        self._note(
            "received",
            channel=inp.filing.channel.value,
            request_kind=self._r.kind.value,
            due_at=self._r.due_at.isoformat(),
        )

    @workflow.run
    async def run(self, inp: SubjectRequestInput) -> SubjectRequest:
        if self._r.received_at > workflow.now() + _CLOCK_SKEW:
            raise ApplicationError(
                "received_at is in the future", type="InvalidRequest", non_retryable=True
            )
        workflow.upsert_search_attributes(
            [
                sa.CLIENT_ID.value_set(self._r.client_id),
                sa.SLA_DEADLINE.value_set(self._r.due_at),
                sa.SLA_BREACHED.value_set(False),
            ]
        )
        self._details()
        delivery = await self._tell_client(ACKNOWLEDGED)
        if self._r.is_open:  # an answer may have overtaken the acknowledgement
            self._r = sr.acknowledge(self._r, workflow.now())
            self._note("acknowledged", delivery=delivery)
        while self._r.is_open:
            if self._r.overdue:
                await workflow.wait_condition(lambda: not self._r.is_open)
                break
            seen = self._version
            delay = self._r.due_at - workflow.now() + _TICK
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self._version != seen,  # type: ignore[misc]
                    timeout=max(delay, _TICK),
                    timeout_summary="subject-request-deadline",
                )
            except TimeoutError:
                await self._escalate()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._r

    async def _escalate(self) -> None:
        if not self._r.is_open or self._r.overdue or workflow.now() < self._r.due_at:
            return
        officer = self._policy.privacy.officer
        self._r = sr.mark_overdue(self._r, workflow.now(), officer)
        self._note("overdue", due_at=self._r.due_at.isoformat(), escalated_to=officer)
        workflow.upsert_search_attributes([sa.SLA_BREACHED.value_set(True)])
        self._details()
        await self._notify("supervisor", officer, OVERDUE)

    # -- recording ------------------------------------------------------------------------------

    def _note(self, kind: str, actor: str | None = None, **data: Any) -> None:
        self._seq += 1
        self._events.append(
            SubjectRequestEvent(seq=self._seq, kind=kind, at=workflow.now(), actor=actor, data=data)
        )
        self._version += 1
        workflow.logger.info(
            "subject request event",
            extra={"kind": kind, "seq": self._seq, "status": self._r.status},
        )

    def _details(self) -> None:
        r = self._r
        due = shown(r.due_at, self._policy.zone(), self._policy.timezone)
        if r.overdue:
            due += f" — **overdue**, with {r.escalated_to}"
        workflow.set_current_details(
            "  \n".join(
                [
                    f"**Data-subject request** `{r.request_id}` · {r.kind.value} · "
                    f"client `{r.client_id}` · **{r.status.value}**",
                    f"**Answer due:** {due}",
                ]
            )
        )

    async def _tell_client(self, template: str) -> str:
        return await self._notify("client", None, template)

    async def _notify(self, recipient: RecipientKind, staff: str | None, template: str) -> str:
        """A message that could not be queued is recorded; the request goes on regardless."""
        wid = workflow.info().workflow_id
        r = self._r
        params: dict[str, Any] = {
            "request_id": r.request_id,
            "request_kind": r.kind.value,
            "sla_deadline": r.due_at.isoformat(),
            "outcome": r.status.value if not r.is_open else None,
            "rejection": r.rejection.value if r.rejection else None,
            "restricted_until": r.restricted_until.isoformat() if r.restricted_until else None,
            "hold": r.hold,
        }
        req = NotifyRequest(
            notification_id=notification_id(wid, self._seq, template, recipient),
            workflow_id=wid,
            client_id=r.client_id,
            recipient_kind=recipient,
            recipient_id=staff,
            purpose=Purpose.PRIVACY,
            template=template,
            params=params,
        )
        status = await send(req)
        if status == "failed":
            self._note("notification_failed", template=template, recipient=recipient)
        return status

    # -- commands -------------------------------------------------------------------------------

    def _check_open(self, verb: str) -> None:
        try:
            self._r.answerable(verb)
        except ValueError as err:
            raise refusal(err, type="SubjectRequestError") from None
        if self._busy:
            raise ApplicationError(
                f"{verb}: request {self._r.request_id} is being fulfilled right now",
                type="SubjectRequestBusy",
            )

    @workflow.update
    @refusing("fulfil")
    async def fulfil(self, cmd: FulfilRequest) -> SubjectRequest:
        self._check_open("fulfil")
        self._busy = True
        try:
            copy, erased = await self._carry_out(cmd)
        finally:
            self._busy = False
        told = erased.complaints_told if erased else None
        self._r = sr.fulfil(
            self._r,
            workflow.now(),
            cmd.by,
            copy,
            told,
            restricted_until=erased.restricted_until if erased else None,
            hold=erased.hold if erased else None,
        )
        data: dict[str, Any] = {"request_kind": self._r.kind.value, "overdue": self._r.overdue}
        if copy is not None:
            data |= {"sha256": copy.sha256, "size": copy.size}
        if told is not None:
            data["complaints_told"] = told
        if self._r.hold is not None:
            data |= {"hold": self._r.hold, "restricted_until": str(self._r.restricted_until)}
        self._note("fulfilled", actor=cmd.by, **data)
        self._details()
        await self._tell_client(ANSWERED)
        return self._r

    @fulfil.validator
    def _check_fulfil(self, cmd: FulfilRequest) -> None:
        if not isinstance(cmd, FulfilRequest):  # a JSON null arrives as None
            raise ApplicationError("fulfil: by and identity_verified are required")
        self._check_open("fulfil")
        if not cmd.identity_verified:
            raise ApplicationError(
                "fulfil: verify that the requester is the client (or may act for them) first; "
                "then send identity_verified: true",
                type="IdentityNotVerified",
            )

    async def _carry_out(
        self, cmd: FulfilRequest
    ) -> tuple[SealedCopy | None, SubjectErasureResult | None]:
        r = self._r
        try:
            if r.kind is SubjectRequestKind.ACCESS:
                copy = await workflow.execute_activity_method(
                    SubjectRequestActivities.produce_subject_copy,
                    CopyRequest(
                        request_id=r.request_id, client_id=r.client_id, requested_by=cmd.by
                    ),
                    summary="produce the sealed copy",
                    start_to_close_timeout=_WORK_TIMEOUT,
                    retry_policy=_WORK_RETRY,
                )
                return copy, None
            if r.kind is SubjectRequestKind.CORRECTION:
                correction = self._inp.filing.correction
                assert correction is not None  # the filing's validator requires it
                await workflow.execute_activity_method(
                    SubjectRequestActivities.correct_client_profile,
                    CorrectionRequest(
                        request_id=r.request_id,
                        client_id=r.client_id,
                        requested_by=cmd.by,
                        # Unset and null alike are left out: the input came through JSON, where
                        # every field is set; a correction replaces values, it never blanks one
                        # (removing data is a deletion request).
                        correction=correction.model_dump(mode="json", exclude_none=True),
                    ),
                    summary="correct the client file",
                    start_to_close_timeout=_WORK_TIMEOUT,
                    retry_policy=_WORK_RETRY,
                )
                return None, None
            erased = await workflow.execute_activity_method(
                SubjectRequestActivities.erase_client_for_subject_request,
                SubjectErasure(
                    request_id=r.request_id,
                    client_id=r.client_id,
                    requested_by=cmd.by,
                    holds=bool(self._policy.privacy.holds),
                ),
                summary="erase the client",
                start_to_close_timeout=_WORK_TIMEOUT,
                retry_policy=_WORK_RETRY,
            )
            return None, erased
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            kind = cause.type if isinstance(cause, ApplicationError) else None
            raise ApplicationError(
                f"fulfil: {message}", type=kind or "FulfilFailed", non_retryable=True
            ) from None

    @workflow.update
    @refusing("reject")
    async def reject(self, cmd: RejectRequest) -> SubjectRequest:
        self._check_open("reject")
        self._r = sr.reject(self._r, workflow.now(), cmd.by, cmd.reason)
        self._note("rejected", actor=cmd.by, reason=cmd.reason.value, overdue=self._r.overdue)
        self._details()
        await self._tell_client(ANSWERED)
        return self._r

    @reject.validator
    def _check_reject(self, cmd: RejectRequest) -> None:
        if not isinstance(cmd, RejectRequest):  # a JSON null arrives as None
            raise ApplicationError("reject: by and reason are required")
        self._check_open("reject")
        try:
            sr.reject(self._r, workflow.now(), cmd.by, cmd.reason)
        except ValueError as err:
            raise refusal(err, type="SubjectRequestError") from None

    # -- queries --------------------------------------------------------------------------------

    @workflow.query
    def state(self) -> SubjectRequest:
        return self._r

    @workflow.query
    def timeline(self) -> SubjectRequestTimeline:
        return SubjectRequestTimeline(request_id=self._r.request_id, events=list(self._events))
