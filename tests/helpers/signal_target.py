"""A workflow that only receives signals: a stand-in target whose history counts them."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="SignalTarget")
class SignalTarget:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)
