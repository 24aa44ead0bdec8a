"""Probe workflows for payloads bound to their place: a child, a signal to another workflow,
continue-as-new, a heartbeat carried into the activity's retry, and a scheduled run that reads
the previous run's result, each crossing the SDK's serialization contexts."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tests.security.probe_workflows import WaitForNoteWorkflow


class FamilyInput(BaseModel):
    text: str
    continued: bool = False


class FamilyResult(BaseModel):
    child: str
    resumed: str
    runs: int


@activity.defn(name="probe_resume")
async def probe_resume(text: str) -> str:
    """Fails its first attempt after a heartbeat; the retry reads the heartbeat back."""
    details = activity.info().heartbeat_details
    if not details:
        activity.heartbeat(f"heartbeat of {text}")
        import asyncio

        await asyncio.sleep(1.5)  # the heartbeat reaches the server before the failure
        raise RuntimeError("first attempt fails once its heartbeat is recorded")
    return str(details[0])


@workflow.defn
class FamilyProbeWorkflow:
    """Continues as new once, then starts a child, signals it through an external handle (the
    signal is bound to the child), waits for its result and runs the heartbeating activity."""

    def __init__(self) -> None:
        self._said = ""

    @workflow.run
    async def run(self, inp: FamilyInput) -> FamilyResult:
        if not inp.continued:
            workflow.continue_as_new(FamilyInput(text=inp.text, continued=True))
        child_id = f"{workflow.info().workflow_id}-child"
        child = await workflow.start_child_workflow(
            WaitForNoteWorkflow.run, f"child of {inp.text}", id=child_id
        )
        await workflow.get_external_workflow_handle(child_id).signal(
            WaitForNoteWorkflow.note, f"note for {inp.text}"
        )
        said = self._said = await child
        resumed = await workflow.execute_activity(
            probe_resume,
            inp.text,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        return FamilyResult(child=said, resumed=resumed, runs=2)

    @workflow.query
    def said(self, prefix: str) -> str:
        return prefix + self._said


@workflow.defn
class ScheduledProbeWorkflow:
    """Counts its schedule's runs through the previous run's result (`last_completion_result`,
    which the server hands each scheduled run, bound to the run before)."""

    @workflow.run
    async def run(self, text: str) -> str:
        previous = (
            workflow.get_last_completion_result(str)
            if workflow.has_last_completion_result()
            else None
        )
        count = int(previous.rsplit("#", 1)[1]) + 1 if previous else 1
        return f"{text}#{count}"
