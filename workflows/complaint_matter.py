"""`ComplaintMatterWorkflow`: which complaint is open on a client's matter, decided atomically.

Why a workflow: repeat complaints on the same matter are merged, so opening one must find the
complaint already open — reliably, at once, and on every server. Visibility queries are eventually
consistent (two quick submissions would both miss each other) and limited on the time-skipping
test server. A complaint id cannot be derived from the matter (it is `complaint-<complaint_id>`),
so each matter gets this small registry instead, with id `complaint-matter:<client_id>:<matter>`
(ids and a non-personal reference only). Its updates run one at a time, so two submissions can
never both become the owner.

Life cycle: the `open` command starts it (or attaches to the running one) naming its new
complaint as the candidate owner, then `claim`s; a different owner in the answer means "merge
into that one". Ownership is two-phase, because the owner's workflow starts only after its claim:
the complaint `confirm`s when it starts, and a claim that meets an unconfirmed owner waits for
that (so a quick second submission is merged rather than taking the matter from a complaint
about to start). An owner not confirmed within `CONFIRM_WITHIN` never started (its command
died) and is replaced. The complaint signals `release` when it ends, and the registry completes
once nobody owns the matter. An owner that ended without releasing (terminated) is replaced by
the next claim that names it in `replace_closed`, so a stale owner never blocks new complaints.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.refusals import refusing

_MODEL = ConfigDict(frozen=True, extra="forbid")
CONFIRM_WITHIN = timedelta(minutes=1)


class MatterInput(BaseModel):
    model_config = _MODEL
    matter_key: str
    owner: str


class MatterClaim(BaseModel):
    model_config = _MODEL
    complaint_id: str
    replace_closed: str | None = None
    """An owner the caller found closed or missing: it is replaced if it still owns the matter."""


class MatterOwner(BaseModel):
    model_config = _MODEL
    owner: str
    merged: bool


class MatterMember(BaseModel):
    """The complaint confirming (at its start) or releasing (at its end) the matter."""

    model_config = _MODEL
    complaint_id: str


@workflow.defn
class ComplaintMatterWorkflow:
    @workflow.init
    def __init__(self, inp: MatterInput) -> None:
        self._owner: str | None = inp.owner
        self._confirmed = False

    @workflow.run
    async def run(self, inp: MatterInput) -> None:
        self._show()
        await workflow.wait_condition(
            lambda: self._owner is None and workflow.all_handlers_finished()
        )

    def _show(self) -> None:
        state = "open" if self._confirmed else "starting"
        workflow.set_current_details(f"complaint on this matter: `{self._owner}` ({state})")

    @workflow.update
    @refusing("claim")
    async def claim(self, req: MatterClaim) -> MatterOwner:
        settled = (None, req.complaint_id, req.replace_closed)
        while self._owner not in settled and not self._confirmed:
            await self._wait_for_start(self._owner)
        if self._owner is None or self._owner == req.replace_closed:
            self._owner, self._confirmed = req.complaint_id, False
            self._show()
        return MatterOwner(owner=self._owner, merged=self._owner != req.complaint_id)

    @claim.validator
    def _check_claim(self, req: MatterClaim) -> None:
        # The converter hands a JSON null through as None; refuse it before it reaches history.
        if not isinstance(req, MatterClaim):
            raise ApplicationError("claim: a claim with the complaint id is required")

    async def _wait_for_start(self, pending: str | None) -> None:
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

    @workflow.signal
    def confirm(self, req: MatterMember) -> None:
        # A malformed signal is dropped: raising here would fail the workflow task for ever.
        if isinstance(req, MatterMember) and self._owner == req.complaint_id:
            self._confirmed = True
            self._show()

    @workflow.signal
    def release(self, req: MatterMember) -> None:
        if isinstance(req, MatterMember) and self._owner == req.complaint_id:
            self._owner, self._confirmed = None, False

    @workflow.query
    def owner(self) -> MatterOwner | None:
        return MatterOwner(owner=self._owner, merged=False) if self._owner else None
