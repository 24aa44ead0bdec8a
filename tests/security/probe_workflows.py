"""Small workflows that push personal data through every kind of payload Temporal stores."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tests.security.probe_app import (
        Ack,
        Confirm,
        Note,
        ProbeInput,
        ProbeResult,
        probe_greet,
        probe_reject,
    )

_ACTIVITY = timedelta(seconds=30)


@workflow.defn
class PiiProbeWorkflow:
    """Memo upsert, summarised timer and activities, a failed activity, a signal, an update, then
    a result or (with `fail`) a workflow failure whose message carries personal data."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._confirmation: str | None = None

    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeResult:
        person = inp.person
        workflow.upsert_memo({"callback_to": person.phone})
        await workflow.sleep(timedelta(milliseconds=1), summary=f"pause for {person.name}")
        greeting = await workflow.execute_activity(
            probe_greet, person, start_to_close_timeout=_ACTIVITY, summary=f"greet {person.email}"
        )
        try:
            await workflow.execute_activity(
                probe_reject,
                person,
                start_to_close_timeout=_ACTIVITY,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"reject {person.id_number}",
            )
            rejection = ""
        except ActivityError as err:
            rejection = str(err.cause)
        await workflow.wait_condition(lambda: bool(self._notes) and self._confirmation is not None)
        workflow.logger.info("probe finishing", extra={"client_name": person.name})
        if inp.fail:
            raise ApplicationError(
                f"refused ID {person.id_number}, phone {person.phone}", non_retryable=True
            )
        assert self._confirmation is not None
        return ProbeResult(
            greeting=greeting.text,
            notes=self._notes,
            confirmation=self._confirmation,
            rejection=rejection,
        )

    @workflow.signal
    def add_note(self, note: Note) -> None:
        self._notes.append(note.text)

    @workflow.update
    def confirm(self, confirm: Confirm) -> Ack:
        self._confirmation = confirm.text
        return Ack(text=f"confirmed: {confirm.text}")

    @confirm.validator
    def _check_confirm(self, confirm: Confirm) -> None:
        if not confirm.text:
            raise ValueError("confirm: the text is empty")


@workflow.defn
class WaitForNoteWorkflow:
    """Input now, a signal later, then the result: three payloads written at different times
    (across a key rotation in the rotation test)."""

    def __init__(self) -> None:
        self._note: str | None = None

    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.wait_condition(lambda: self._note is not None)
        return f"{text} / {self._note}"

    @workflow.signal
    def note(self, text: str) -> None:
        self._note = text
