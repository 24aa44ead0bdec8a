"""A small workflow + projection activity shaped like the real ones, so the auditor is tested
without depending on them: updates and signals carrying an actor, a timer with a summary, a
`seq` counter carried across continue-as-new, and a `@projector` writing a state row
(`upsert_newer`, with a sealed column) and a fact row (`insert_once`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from activities.deps import ActivityDeps
    from projections.crypto import FieldCipher
    from projections.registry import Write, apply_writes, projector
    from projections.tables import complaint_events, complaints

PROJECT = "audit_sample_project"
WORKFLOW_NAME = "AuditSample"
TASK_TIMEOUT = timedelta(seconds=30)


class Step(BaseModel):
    kind: str
    actor: str
    stage: str | None = None
    """None: the stage stays as it is when the step is applied."""


class SampleInput(BaseModel):
    case_id: str
    client_id: str
    content: str
    seq: int = 0
    stage: str = "intake"
    received_at: datetime | None = None
    pending: list[Step] = []
    advances_per_run: int = 100


class Advance(BaseModel):
    actor: str
    stage: str


class Note(BaseModel):
    actor: str
    text: str


class SampleSnapshot(BaseModel):
    """Everything one projection write needs: the convention's snapshot with workflow id + seq."""

    workflow_id: str
    seq: int
    case_id: str
    client_id: str
    stage: str
    stage_from: str | None
    kind: str
    actor: str | None
    content: str
    received_at: datetime
    at: datetime


@projector(PROJECT, SampleSnapshot)
def sample_rows(snap: SampleSnapshot, cipher: FieldCipher) -> list[Write]:
    state = {
        "complaint_id": snap.case_id,
        "workflow_id": snap.workflow_id,
        "seq": snap.seq,
        "client_id": snap.client_id,
        "channel": "email",
        "stage": snap.stage,
        "received_at": snap.received_at,
        "content_enc": cipher.seal(snap.content, context=f"complaint:{snap.case_id}"),
        "updated_at": snap.at,
    }
    fact = {
        "workflow_id": snap.workflow_id,
        "seq": snap.seq,
        "complaint_id": snap.case_id,
        "kind": snap.kind,
        "stage_from": snap.stage_from,
        "stage_to": snap.stage,
        "actor": snap.actor,
        "at": snap.at,
        "data": {"kind": snap.kind},
    }
    return [
        Write(complaints, [state], ("complaint_id",)),
        Write(complaint_events, [fact], ("workflow_id", "seq"), mode="once"),
    ]


class SampleActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name=PROJECT)
    def project(self, snap: SampleSnapshot) -> int:
        with self._deps.engine.begin() as conn:
            return apply_writes(conn, sample_rows(snap, self._deps.cipher))


@workflow.defn(name=WORKFLOW_NAME)
class AuditSample:
    def __init__(self) -> None:
        self._pending: list[Step] = []
        self._stage = "intake"
        self._seq = 0
        self._projected = 0
        self._inp: SampleInput | None = None

    async def _project(self, kind: str, frm: str | None, actor: str | None) -> None:
        assert self._inp is not None and self._inp.received_at is not None
        self._seq += 1
        await workflow.execute_activity(
            PROJECT,
            SampleSnapshot(
                workflow_id=workflow.info().workflow_id,
                seq=self._seq,
                case_id=self._inp.case_id,
                client_id=self._inp.client_id,
                stage=self._stage,
                stage_from=frm,
                kind=kind,
                actor=actor,
                content=self._inp.content,
                received_at=self._inp.received_at,
                at=workflow.now(),
            ),
            start_to_close_timeout=TASK_TIMEOUT,
        )
        self._projected = self._seq

    async def _open(self) -> None:
        await self._project("opened", None, None)
        await workflow.sleep(timedelta(milliseconds=100), summary="cooling-off period")

    @workflow.run
    async def run(self, inp: SampleInput) -> str:
        self._inp = inp.model_copy(update={"received_at": inp.received_at or workflow.now()})
        self._seq, self._stage, self._projected = inp.seq, inp.stage, inp.seq
        self._pending[:0] = inp.pending
        if self._seq == 0:
            await self._open()
        for _ in range(inp.advances_per_run):
            await workflow.wait_condition(lambda: bool(self._pending))
            step = self._pending.pop(0)
            frm, self._stage = self._stage, step.stage or self._stage
            await self._project(step.kind, frm, step.actor)
            if self._stage == "closed":
                return self._stage
        # Steps accepted but not yet applied travel with the new run rather than being lost.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._inp.model_copy(
                update={"seq": self._seq, "stage": self._stage, "pending": self._pending}
            )
        )

    @workflow.update
    async def advance(self, adv: Advance) -> str:
        self._pending.append(Step(kind="advanced", actor=adv.actor, stage=adv.stage))
        return f"{self._stage} -> {adv.stage}"

    @advance.validator
    def _check(self, adv: Advance) -> None:
        if adv.stage == self._stage:
            raise ValueError(f"already in {adv.stage}")

    @workflow.query
    def projected(self) -> int:
        """The seq of the last projection written: tests wait on it before reading tables."""
        return self._projected

    @workflow.signal
    async def note(self, note: Note) -> None:
        self._pending.append(Step(kind="noted", actor=note.actor))


@workflow.defn(name=WORKFLOW_NAME)
class AuditSampleReordered(AuditSample):
    """The same workflow type after an incompatible edit: the timer now comes first."""

    @workflow.run
    async def run(self, inp: SampleInput) -> str:
        return await super().run(inp)

    async def _open(self) -> None:
        await workflow.sleep(timedelta(milliseconds=100), summary="cooling-off period")
        await self._project("opened", None, None)


ORIGINAL = [AuditSample]
REORDERED = [AuditSampleReordered]
