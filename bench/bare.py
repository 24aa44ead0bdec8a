"""The baseline of the complaint benchmark: a workflow with the complaint's shape and nothing
else. It takes the same five updates a complaint lifecycle takes (acknowledgement, assess,
investigate, resolve, follow-up), each waiting on one no-op activity as a complaint waits on its
projection, and ends after the last. No policy, no domain rules, no timers, no encryption, no
database: what Temporal itself costs for that lifecycle on this machine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

STEPS = ("acknowledgement", "assess", "investigate", "resolve", "follow_up")


@activity.defn(name="bare_noop")
def noop(step: str) -> str:
    return step


@workflow.defn(name="BareComplaint")
class BareComplaint:
    def __init__(self) -> None:
        self._done = 0

    @workflow.run
    async def run(self) -> int:
        await self._project("received")
        await workflow.wait_condition(lambda: self._done == len(STEPS))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._done

    async def _project(self, step: str) -> None:
        await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))

    async def _step(self, step: str) -> str:
        await self._project(step)
        self._done += 1
        return step

    @workflow.update
    async def acknowledgement(self) -> str:
        return await self._step("acknowledgement")

    @workflow.update
    async def assess(self, body: dict[str, Any]) -> str:
        return await self._step("assess")

    @workflow.update
    async def investigate(self, body: dict[str, Any]) -> str:
        return await self._step("investigate")

    @workflow.update
    async def resolve(self, body: dict[str, Any]) -> str:
        return await self._step("resolve")

    @workflow.update
    async def follow_up(self, body: dict[str, Any]) -> str:
        return await self._step("follow_up")


@workflow.defn(name="BareClient")
class BareClient:
    """The baseline of the import benchmark: an empty workflow onboarded by update-with-start,
    as `client onboard` onboards a client, whose update answers at once and which then waits
    (as a client's workflow parks on its timers). No policy, activities or encryption."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def onboard(self, body: dict[str, Any]) -> str:
        return str(body["client_id"])
