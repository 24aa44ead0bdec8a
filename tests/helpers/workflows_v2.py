"""A "v2" of the shipped workflow code, for the deployment test: registered under the same type
names, with command sequences that differ from v1's. Its own module, because the workflow sandbox
imports the module a workflow is defined in, and a test module imports far too much."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from domain.complaint_state import Complaint
    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import ClientServiceInput, ClientView, ProfileUpdate
    from workflows.complaint import ComplaintWorkflow
    from workflows.complaint_models import ComplaintInput
    from workflows.registry import ALL_WORKFLOWS

V2_PATCH = "test-deploy-v2-marks-the-memo"


@workflow.defn(name="ComplaintWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class ComplaintWorkflowV2(ComplaintWorkflow):
    """A command before anything v1 does, and no patch: a pinned type needs none. A v1 history
    replayed on this code fails at its first task, so a complaint that reached v2 would show."""

    @workflow.run
    async def run(self, inp: ComplaintInput) -> Complaint:
        workflow.upsert_memo({"code": "v2"})
        return await super().run(inp)


@workflow.defn(name="ClientServiceWorkflow", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ClientServiceWorkflowV2(ClientServiceWorkflow):
    """A new command on a profile update, behind a patch, as an auto-upgrade type's change must
    be. (A patch is decided once per run, where it is first asked: here, at the first profile
    update after the move, which replay of the v1 events never reaches.)"""

    @workflow.run
    async def run(self, inp: ClientServiceInput) -> ClientView | None:
        return await super().run(inp)

    @workflow.update(name="update_profile")
    async def update_profile(self, cmd: ProfileUpdate) -> ClientView:
        if workflow.patched(V2_PATCH):
            workflow.upsert_memo({"code": "v2"})
        view: ClientView = await ClientServiceWorkflow.update_profile(self, cmd)
        return view


def v2_workflows() -> list[type]:
    swap: dict[type, type] = {
        ComplaintWorkflow: ComplaintWorkflowV2,
        ClientServiceWorkflow: ClientServiceWorkflowV2,
    }
    return [swap.get(w, w) for w in ALL_WORKFLOWS]
