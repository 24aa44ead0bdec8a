"""Nothing a caller sends can wedge a client's workflow or be applied twice.

A workflow task that raises anything but `ApplicationError` is retried forever, and while it is
the client's timers and every other command stall: these tests provoke the paths where that
could happen (state changed between an update's validator and its handler) and the paths where
a retried command could be applied a second time (after continue-as-new).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.clients import ClientActivities, ClientServiceProjection
from activities.deps import ActivityDeps
from commands import privacy
from commands.base import CommandContext
from commands.clients import COMMANDS
from domain.client import ClientFile
from domain.enums import Tier
from domain.periods import Period
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import clients
from simulation.year import sleep_until
from tests.workflows.test_client_support import (
    ANSWERS_C4,
    client_body,
    client_worker,
    ctx,
    private_clock,
    run_histories,
    tasks,
)
from workflows.client_service import ClientServiceWorkflow
from workflows.client_service.models import (
    ClientServiceInput,
    OnboardClient,
    PauseService,
    ProfileUpdate,
)

ANSWER_WITHIN = 20.0  # seconds of wall time: an answer, or the workflow is wedged

ENTERPRISE_SEGMENT = {
    "kind": "enterprise",
    "size": "small",
    "industry": "C",
    "financial_condition": "sound",
}


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


class HeldProjections:
    """The client projection activity, held up while `held` (as a PostgreSQL outage would)."""

    def __init__(self, engine: Engine, keyring: KeyRing) -> None:
        self._real = ClientActivities(ActivityDeps(engine=engine, cipher=FieldCipher(keyring)))
        self._released = threading.Event()
        self._released.set()
        self.calls_held = 0

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @activity.defn(name="project_client_service")
    def project_client_service(self, inp: ClientServiceProjection) -> int:
        if not self._released.is_set():
            self.calls_held += 1
            self._released.wait(timeout=120)
        return self._real.project_client_service(inp)


async def task_failures(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


def onboard_again(c: CommandContext, body: dict[str, Any]) -> WithStartWorkflowOperation[Any, Any]:
    file = ClientFile.model_validate(body)
    return WithStartWorkflowOperation(
        ClientServiceWorkflow.run,
        ClientServiceInput(client_id=file.client_id, policy=c.policy),
        id=f"client-{file.client_id}",
        task_queue=c.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def test_a_profile_update_overtaken_by_a_kind_change_is_refused_not_a_failed_task(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """The validator passes on an enterprise file; before the handler runs, a re-submitted
    onboarding makes the client an individual, so the enterprise segment no longer fits."""
    held = HeldProjections(db, keyring)
    client: Client = ts_env.client
    async with client_worker(
        client, db, keyring, ends=("client-c-race",), replace=[held.project_client_service]
    ) as queue:
        c = ctx(client, queue)
        enterprise = client_body("c-race", kind="enterprise", segment=ENTERPRISE_SEGMENT)
        enterprise["basic"] = {"name": "Race Trading Co.", "phone": "13800138000"}
        await COMMANDS["onboard"](c, None, enterprise)
        handle = client.get_workflow_handle_for(ClientServiceWorkflow.run, "client-c-race")

        held.hold()
        pausing = await handle.start_update(
            ClientServiceWorkflow.pause,
            PauseService(reason="held"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        individual = client_body("c-race")
        kind_change = await client.start_update_with_start_workflow(
            ClientServiceWorkflow.onboard,
            OnboardClient(file=ClientFile.model_validate(individual)),
            start_workflow_operation=onboard_again(c, individual),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        segment_update = await handle.start_update(
            ClientServiceWorkflow.update_profile,
            ProfileUpdate.model_validate({"segment": ENTERPRISE_SEGMENT}),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        held.release()

        await asyncio.wait_for(pausing.result(), ANSWER_WITHIN)
        await asyncio.wait_for(kind_change.result(), ANSWER_WITHIN)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(segment_update.result(), ANSWER_WITHIN)
        assert isinstance(refused.value.cause, ApplicationError)
        assert "segment" in refused.value.cause.message
        assert "Race Trading" not in refused.value.cause.message  # fields, never values

        assert await task_failures(handle) == []
        view = await asyncio.wait_for(COMMANDS["resume"](c, "c-race", {}), ANSWER_WITHIN)
        assert view["status"] == "active" and view["file"]["kind"] == "individual"
        assert await task_failures(handle) == []


def short_runs(days: int) -> Policy:
    """The shipped policy, continuing as new after `days` (instead of a year)."""
    policy = Policy()
    service = policy.service.model_copy(update={"continue_as_new_after": Period.parse(f"P{days}D")})
    return policy.model_copy(update={"service": service})


async def test_a_retried_command_is_answered_not_applied_again_after_continue_as_new(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """`--request-id` is the update id, which the server deduplicates per run only: the
    workflow itself must remember what it answered across continue-as-new."""
    client: Client = own_clock.client
    async with client_worker(client, db, keyring, ends=("client-c-retry",)) as queue:
        plain = ctx(client, queue, short_runs(1))
        keyed = {
            name: CommandContext(
                client=client, policy=plain.policy, task_queue=queue, request_id=name
            )
            for name in ("req-answers", "req-pause", "req-resume")
        }
        await COMMANDS["onboard"](plain, None, client_body("c-retry", Tier.DIAMOND))
        first_answers = await COMMANDS["update"](
            keyed["req-answers"], "c-retry", {"risk_answers": ANSWERS_C4}
        )
        paused = await COMMANDS["pause"](keyed["req-pause"], "c-retry", {"reason": "abroad"})
        resumed = await COMMANDS["resume"](keyed["req-resume"], "c-retry", {})
        assert paused["status"] == "paused" and resumed["status"] == "active"

        # Past the first monthly callback: the run wakes, sees it is over a day old, and
        # continues as new.
        start = await own_clock.get_current_time()
        await sleep_until(own_clock, start + timedelta(days=40))
        assert len(await run_histories(client, "client-c-retry")) >= 2

        # The caller never saw the answers and sends all three again, with the same keys.
        again_answers = await COMMANDS["update"](
            keyed["req-answers"], "c-retry", {"risk_answers": ANSWERS_C4}
        )
        again_paused = await COMMANDS["pause"](keyed["req-pause"], "c-retry", {"reason": "abroad"})
        assert again_answers == first_answers
        assert again_paused == paused
        view = await COMMANDS["show"](plain, "c-retry", {})
        assert view["status"] == "active"  # the old pause was not applied again
        assert view["risk_assessed_at"] == first_answers["risk_assessed_at"]
        # A new key is a new request, applied as usual.
        fresh = CommandContext(client=client, policy=plain.policy, task_queue=queue, request_id="n")
        assert (await COMMANDS["pause"](fresh, "c-retry", {}))["status"] == "paused"
        handle = client.get_workflow_handle("client-c-retry")
        assert await task_failures(handle) == []


async def caught_up(check: Callable[[], bool]) -> None:
    """Read models follow the workflow: waits (a little wall time) until `check` holds."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the read models did not catch up")


PROMPT = 5.0  # seconds of wall time for an answer while the read models are unreachable


async def test_commands_are_answered_while_the_projection_hangs(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """No command waits behind an activity: with every projection write hung, `pause`,
    `callback` and `erase` are answered at once, and the read models catch up afterwards."""
    held = HeldProjections(db, keyring)
    client: Client = own_clock.client
    async with client_worker(
        client, db, keyring, ends=("client-c-held",), replace=[held.project_client_service]
    ) as queue:
        c = ctx(client, queue)
        await COMMANDS["onboard"](c, None, client_body("c-held", Tier.DIAMOND))
        view = await COMMANDS["show"](c, "c-held", {})
        await sleep_until(
            own_clock, datetime.fromisoformat(view["next_service_due"]) + timedelta(hours=1)
        )
        view = await COMMANDS["show"](c, "c-held", {})
        assert [t["kind"] for t in view["open_tasks"]] == ["callback"]
        await caught_up(lambda: [r.status for r in tasks(db, "c-held", "callback")] == ["due"])

        held.hold()
        # The workflow's answers, without the command line's wait for the read models.
        now = dataclasses.replace(c, settle_within=0)
        started = time.monotonic()
        paused = await asyncio.wait_for(COMMANDS["pause"](now, "c-held", {}), PROMPT)
        recorded = await asyncio.wait_for(
            COMMANDS["callback"](now, "c-held", {"satisfaction": 4}), PROMPT
        )
        erased = await asyncio.wait_for(
            privacy.erase(now, "c-held", {"requested_by": "dpo-01", "reason": "PIPL-REQ-1"}),
            PROMPT,
        )
        answered_in = time.monotonic() - started
        print(f"\nthree commands answered in {answered_in:.2f}s with the projection hung")
        assert held.calls_held >= 1  # the read models really were unreachable meanwhile
        assert paused["status"] == "paused" and recorded["late"] is False
        assert erased["via"] == "workflow" and erased["erased_at"] is not None
        assert tasks(db, "c-held", "callback")[0].status == "due"  # not written yet

        held.release()
        handle = client.get_workflow_handle_for(ClientServiceWorkflow.run, "client-c-held")
        final = await asyncio.wait_for(handle.result(), ANSWER_WITHIN)
        assert final is not None and final.status.value == "closed"
        # The run ends only once its queue is empty: every write has happened.
        assert [r.status for r in tasks(db, "c-held", "callback")] == ["done"]
        with db.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.client_id == "c-held")).one()
        assert row.erased_at is not None and row.name_enc is None and row.status == "closed"
        assert await task_failures(handle) == []
