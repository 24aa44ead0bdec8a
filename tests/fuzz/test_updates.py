"""Every workflow update, sent straight to a live workflow with bad arguments: what another
service could send through the Temporal API, past the commands' own checks. The payload
converter or the update's validator must refuse it; a handler may refuse it too, but only with
an `ApplicationError` (anything else fails the workflow task and leaves the update hanging)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowUpdateFailedError

from tests.fuzz.rig import FuzzRig
from tests.fuzz.specs import UPDATES
from tests.fuzz.strategies import JSON, bodies

UPDATE_WITHIN = 60
"""Seconds an update may take before it counts as hanging; a healthy one takes well under one."""

WORKFLOW_ID = {
    "client": "client-{}",
    "event": "event-{}",
    "matter": "{}",
    "subject_request": "dsr-{}",
}


def workflow_id(role: str, target: str) -> str:
    return WORKFLOW_ID.get(role, "complaint-{}").format(target)


@pytest.mark.parametrize(("role", "update", "valid"), UPDATES, ids=[u for _, u, _ in UPDATES])
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_an_update_is_refused_or_applied_never_stuck(
    rig: FuzzRig, role: str, update: str, valid: Any, data: st.DataObject
) -> None:
    argument = data.draw(st.one_of(bodies(valid), JSON), label="argument")
    handle = rig.ctx.client.get_workflow_handle(workflow_id(role, await rig.target(role)))
    try:
        async with asyncio.timeout(UPDATE_WITHIN):
            await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError:
        return
    rig.retire(role)  # applied: the workflow may have moved on or ended
