"""Refused commands are counted on the worker's `/metrics`: by workflow type, update, refusal kind
and phase, once each (a replay of the history counts nothing again), with no id in any label."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from commands.base import CommandError
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.embedded_pg import free_port
from infra.keys import KeyRing
from infra.metrics import prometheus
from infra.temporal import data_converter, register_search_attributes
from tests.helpers.complaint_env import complaint_context, intake
from tests.infra.test_metrics import _scrape, _value
from workflows import search_attributes
from workflows.metering import REFUSED_COMMANDS, RefusalCounter, refusal_kind
from workflows.refusals import refusing

COUNTER = REFUSED_COMMANDS + "_total"


class Claim(BaseModel):
    who: str


@workflow.defn(sandboxed=False)
class RefusalProbe:
    """An update its validator lets through and its handler then refuses (the state moved on
    between them, in the real workflows), and a signal to make the worker replay the history."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    @refusing("claim")
    async def claim(self, cmd: Claim) -> str:
        raise ValueError(f"{cmd.who} may not claim")  # the message is the caller's; not counted

    @claim.validator
    def _check_claim(self, cmd: Claim) -> None:
        pass

    @workflow.signal
    def nudge(self) -> None:
        pass

    @workflow.signal
    def finish(self) -> None:
        self._done = True


def _refusals(series: dict) -> dict[tuple[str, str, str, str], float]:
    found = {}
    for (name, pairs), value in series.items():
        if name == COUNTER:
            labels = dict(pairs)
            key = (labels["workflow_type"], labels["update"], labels["kind"], labels["phase"])
            found[key] = value
    return found


async def test_refused_commands_are_counted_once_by_type_update_kind_and_phase(
    db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        runtime=runtime,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        await register_search_attributes(env.client, search_attributes.ALL)
        body = intake("c-9401")
        async with complaint_context(env.client, db, keyring, policy) as ctx:
            opened = await COMMANDS["open"](ctx, None, body)
            cid = opened["complaint_id"]
            for verb, cmd in [
                ("resolve", {"measures": "x", "owner": "h-31", "due": "2099-01-01"}),
                ("follow-up", {"satisfaction": 5}),
                ("follow-up", {"satisfaction": 4}),
            ]:
                with pytest.raises(CommandError):
                    await COMMANDS[verb](ctx, cid, cmd)

        queue = f"probe-{uuid.uuid4().hex[:8]}"
        # no cache: every task of the probe replays its whole history, refusal included
        with ThreadPoolExecutor(max_workers=2) as pool:
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[RefusalProbe],
                activity_executor=pool,
                max_cached_workflows=0,
                interceptors=[RefusalCounter()],
            ):
                handle = await env.client.start_workflow(
                    RefusalProbe.run, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
                with pytest.raises(WorkflowUpdateFailedError):
                    await handle.execute_update(RefusalProbe.claim, Claim(who="Li Lei"))
                await handle.signal(RefusalProbe.nudge)
                await handle.signal(RefusalProbe.finish)
                await handle.result()
        series = await _scrape(port)
    finally:
        await env.shutdown()

    assert _refusals(series) == {
        ("ComplaintWorkflow", "resolve", "ComplaintRuleError", "validator"): 1,
        ("ComplaintWorkflow", "follow_up", "ComplaintRuleError", "validator"): 2,
        ("RefusalProbe", "claim", "ValueError", "handler"): 1,
    }
    for (name, pairs), _ in series.items():
        if name == COUNTER:
            assert {k for k, _ in pairs} == {
                "namespace", "task_queue", "workflow_type", "update", "kind", "phase",
                "service_name",
            }  # fmt: skip
    text = repr(series)
    for secret in ("c-9401", cid, "Li Lei", "13800138000", "example.cn"):
        assert secret not in text
    assert _value(series, COUNTER) == 4


def test_a_refusal_kind_is_a_name_from_the_code() -> None:
    from temporalio.exceptions import ApplicationError

    assert refusal_kind(ApplicationError("x", type="InvalidInput")) == "InvalidInput"
    assert refusal_kind(ApplicationError("x")) == "ApplicationError"
    assert refusal_kind(ValueError("13800138000")) == "ValueError"
    assert refusal_kind(ApplicationError("x", type="client 13800138000")) == "other"
