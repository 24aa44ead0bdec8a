"""PolicyRolloutWorkflow (`policy-rollout-<version>`): tells every live workflow of a version.

Started by `starter.py policy publish` once the version is stored. It walks the live clients
and the open complaints in the read models a page at a time, and an activity signals each page's
workflows `policy_published` (the signal is in every history it reaches, so a replay shows which
version a workflow was told of and when). A workflow started after the store is written reads
the version from the store itself (the commands pass it in), so none is missed between the two.
Pages are few events each; the run continues as new when Temporal suggests it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities.policy import (
        PolicyActivities,
        PolicySignalPage,
        PolicySignalPageResult,
        Target,
    )
    from domain.policy_versions import PolicyVersion
    from workflows.client_service import ClientServiceWorkflow
    from workflows.complaint import ComplaintWorkflow

PAGE_TIMEOUT = timedelta(minutes=5)
HEARTBEAT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
SIGNALS: dict[Target, str] = {
    "clients": workflow._SignalDefinition.must_name_from_fn_or_str(
        ClientServiceWorkflow.policy_published
    ),
    "complaints": workflow._SignalDefinition.must_name_from_fn_or_str(
        ComplaintWorkflow.policy_published
    ),
}


def rollout_workflow_id(version_id: str) -> str:
    return f"policy-rollout-{version_id}"


class RolloutInput(BaseModel):
    version: PolicyVersion
    page_size: int = 500
    target: Target = "clients"
    after_workflow_id: str | None = None
    signalled: dict[str, int] = {}


class RolloutResult(BaseModel):
    version_id: str
    signalled: dict[str, int]


# Pinned: a rollout is minutes long and finishes on the code that started it.
@workflow.defn(name="PolicyRolloutWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class PolicyRolloutWorkflow:
    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutResult:
        target, after, signalled = inp.target, inp.after_workflow_id, dict(inp.signalled)
        targets: list[Target] = ["clients", "complaints"]
        for t in targets[targets.index(target) :]:
            while True:
                page: PolicySignalPageResult = await workflow.execute_activity_method(
                    PolicyActivities.signal_policy_page,
                    PolicySignalPage(
                        version=inp.version,
                        target=t,
                        signal=SIGNALS[t],
                        after_workflow_id=after,
                        limit=inp.page_size,
                    ),
                    start_to_close_timeout=PAGE_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=RETRY,
                    summary=f"{t} after {after or 'the start'}",
                )
                signalled[t] = signalled.get(t, 0) + page.signalled
                after = page.next_after
                if after is None:
                    break
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        inp.model_copy(
                            update={"target": t, "after_workflow_id": after, "signalled": signalled}
                        )
                    )
            after = None
        return RolloutResult(version_id=inp.version.version_id, signalled=signalled)
