"""A workflow that only receives signals: a stand-in target whose history counts them."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior


# Registered next to the service's workflows on a versioned worker, which needs a behaviour.
@workflow.defn(name="SignalTarget", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class SignalTarget:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)
