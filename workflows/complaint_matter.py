"""`ComplaintMatterWorkflow`: which complaint is open on a client's matter, decided atomically.

Why a workflow: repeat complaints on the same matter are merged, so opening one must find the
complaint already open — reliably, at once, and on every server. Visibility queries are eventually
consistent (two quick submissions would both miss each other) and limited on the time-skipping
test server. A complaint id cannot be derived from the matter (it is `complaint-<complaint_id>`),
so each matter gets this small registry instead, with id `complaint-matter:<client_id>:<matter>`
(ids and a non-personal reference only).

Ownership and the complaint's start are one step: the `open` command sends a `claim` carrying
the complaint it would start, as an update-with-start of the registry, and the registry itself
starts that complaint as its child when nobody owns the matter (parent-close policy ABANDON, so
the complaint never depends on the registry). A different owner in the answer means "merge into
that one". Claims run one at a time up to their answer, so two submissions can never both
become the owner, and a claim meeting an owner whose start is still in flight waits for the
start's outcome, which the server always reports — there is no wall-clock window. The registry
learns that its complaint ended (closed, withdrawn, terminated, failed) from the child's
completion, never from a caller, and completes once nobody owns the matter and no claim is in
flight. A command dying anywhere leaves either nothing or a started, owned complaint.

Registries started before this version (`workflow.patched(STARTS_COMPLAINT)` false in their
claims) named an owner whose command started it, which then confirmed and released by signal;
those signals and that path stay for their replay and for owners claimed that way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from temporalio.common import Priority, WorkflowIDReusePolicy

    from workflows.complaint import ComplaintWorkflow
    from workflows.complaint_effects import opening_search_attributes, opening_summary
    from workflows.complaint_models import (
        MATTER_CONFIRM,
        MATTER_RELEASE,
        ComplaintInput,
        MatterMember,
        complaint_workflow_id,
    )

with workflow.unsafe.imports_passed_through():
    from domain.identifiers import Ref
    from domain.priorities import COMPLAINT
    from workflows.refusals import refusing

_MODEL = ConfigDict(frozen=True, extra="forbid")
STARTS_COMPLAINT = "matter-registry-starts-complaint"
CONFIRM_WITHIN = timedelta(minutes=1)
"""Only for owners claimed before `STARTS_COMPLAINT`: how long such an owner had to confirm."""

__all__ = ["ComplaintMatterWorkflow", "MatterClaim", "MatterInput", "MatterMember", "MatterOwner"]


class MatterInput(BaseModel):
    model_config = _MODEL
    matter_key: str
    owner: str | None = None
    """Before `STARTS_COMPLAINT`: the candidate owner whose command started the registry."""


class MatterClaim(BaseModel):
    model_config = _MODEL
    complaint_id: Ref
    complaint: ComplaintInput | None = None
    """The complaint to start if nobody owns the matter (its `complaint_id` is the claim's)."""
    replace_closed: Ref | None = None
    """An owner that refused the caller's merge. The registry does not take the caller's word
    for it: the claim waits until the registry itself sees that complaint end, then claims
    again. (Before `STARTS_COMPLAINT`: replaced at once if it still owned the matter.)"""


class MatterOwner(BaseModel):
    model_config = _MODEL
    owner: str
    merged: bool


# Pinned, like the complaint it starts: it ends when that complaint does.
@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class ComplaintMatterWorkflow:
    @workflow.init
    def __init__(self, inp: MatterInput) -> None:
        self._owner: str | None = inp.owner
        self._confirmed = False
        self._starting = False
        self._child: ChildWorkflowHandle[Any, Any] | None = None

    @workflow.run
    async def run(self, inp: MatterInput) -> None:
        self._show()
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._child is not None
                    or (self._owner is None and workflow.all_handlers_finished())
                )
            )
            if self._child is None:
                return
            await self._until_ended(self._child)

    async def _until_ended(self, child: ChildWorkflowHandle[Any, Any]) -> None:
        try:
            await child
        except ChildWorkflowError:
            workflow.logger.info(
                "matter owner ended without completing", extra={"workflow_id": child.id}
            )
        self._child, self._owner = None, None
        self._show()

    def _show(self) -> None:
        if self._owner is None:
            workflow.set_current_details("no complaint open on this matter")
            return
        state = (
            "starting"
            if self._starting or (self._child is None and not self._confirmed)
            else "open"
        )
        workflow.set_current_details(f"complaint on this matter: `{self._owner}` ({state})")

    @workflow.update
    @refusing("claim")
    async def claim(self, req: MatterClaim) -> MatterOwner:
        if workflow.patched(STARTS_COMPLAINT):
            return await self._claim(req)
        return await self._claim_before_starting_complaints(req)

    @claim.validator
    def _check_claim(self, req: MatterClaim) -> None:
        # The converter hands a JSON null through as None; refuse it before it reaches history.
        if not isinstance(req, MatterClaim):
            raise ApplicationError("claim: a claim with the complaint id is required")
        if req.complaint is not None and req.complaint.complaint_id != req.complaint_id:
            raise ApplicationError("claim: the complaint to start is not the claiming one")

    async def _claim(self, req: MatterClaim) -> MatterOwner:
        while True:
            owner = self._owner
            if owner is None:
                return await self._start(req)
            if self._starting:
                await workflow.wait_condition(lambda: not self._starting)
                continue
            if self._child is None and owner != req.complaint_id:  # claimed the old way
                if owner == req.replace_closed:
                    self._owner = None
                    continue
                if not self._confirmed:
                    await self._wait_for_start(owner)
                    continue
            elif owner == req.replace_closed:
                await self._until_replaced(owner)
                continue
            return MatterOwner(owner=owner, merged=owner != req.complaint_id)

    async def _until_replaced(self, owner: str) -> None:
        await workflow.wait_condition(lambda: self._owner != owner)

    async def _start(self, req: MatterClaim) -> MatterOwner:
        if req.complaint is None:
            raise ApplicationError(
                "claim: nobody owns this matter and the claim brings no complaint to start",
                type="NothingToStart",
                non_retryable=True,
            )
        self._owner, self._starting = req.complaint_id, True
        self._show()
        try:
            self._child = await workflow.start_child_workflow(
                ComplaintWorkflow.run,
                req.complaint,
                id=complaint_workflow_id(req.complaint_id),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=opening_search_attributes(req.complaint.intake),
                static_summary=opening_summary(req.complaint_id, req.complaint.intake),
                # its own key, not the registry's: a registry started before the keys has none
                # (a command attribute, not a command: saved histories replay unchanged)
                priority=Priority(priority_key=COMPLAINT),
            )
        except WorkflowAlreadyStartedError:
            self._owner = None
            raise ApplicationError(
                f"complaint {req.complaint_id} already exists",
                type="ComplaintExists",
                non_retryable=True,
            ) from None
        finally:
            self._starting = False
            self._show()
        return MatterOwner(owner=req.complaint_id, merged=False)

    async def _claim_before_starting_complaints(self, req: MatterClaim) -> MatterOwner:
        settled = (None, req.complaint_id, req.replace_closed)
        while self._owner not in settled and not self._confirmed:
            await self._wait_for_start(self._owner)
        if self._owner is None or self._owner == req.replace_closed:
            self._owner, self._confirmed = req.complaint_id, False
            self._show()
        return MatterOwner(owner=self._owner, merged=self._owner != req.complaint_id)

    async def _wait_for_start(self, pending: str | None) -> None:
        """An owner claimed the old way, which its command was to start: replaced when it has
        not confirmed within `CONFIRM_WITHIN` (its command died)."""
        try:
            await workflow.wait_condition(
                lambda: self._confirmed or self._owner != pending,
                timeout=CONFIRM_WITHIN,
                timeout_summary="wait-for-owner-start",
            )
        except TimeoutError:
            if self._owner == pending and not self._confirmed:
                workflow.logger.warning("matter owner never started; replacing it")
                self._owner = None

    @workflow.signal(name=MATTER_CONFIRM)
    def confirm(self, req: MatterMember) -> None:
        # A malformed signal is dropped: raising here would fail the workflow task for ever.
        if isinstance(req, MatterMember) and self._owner == req.complaint_id:
            self._confirmed = True
            self._show()

    @workflow.signal(name=MATTER_RELEASE)
    def release(self, req: MatterMember) -> None:
        # Only an owner claimed the old way releases; a child's end is its completion.
        if isinstance(req, MatterMember) and self._owner == req.complaint_id and not self._child:
            self._owner, self._confirmed = None, False

    @workflow.query
    def owner(self) -> MatterOwner | None:
        return MatterOwner(owner=self._owner, merged=False) if self._owner else None
