"""The real servers the suite depends on start from the installed packages."""

from __future__ import annotations

from sqlalchemy import Engine, inspect
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from projections.tables import metadata
from workflows.search_attributes import ALL


def test_migrations_build_every_table(engine: Engine) -> None:
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


async def _attribute_names(env: WorkflowEnvironment) -> set[str]:
    resp = await env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=env.client.namespace)
    )
    return set(resp.custom_attributes)


async def test_time_skipping_server_accepts_contract_attributes(
    ts_env: WorkflowEnvironment,
) -> None:
    """The test server cannot list attributes; a workflow upserting each one proves them."""
    from temporalio.worker import Worker

    from tests.helpers.probe import SearchAttributeProbe

    async with Worker(ts_env.client, task_queue="probe", workflows=[SearchAttributeProbe]):
        result = await ts_env.client.execute_workflow(
            SearchAttributeProbe.run, id="probe-sa", task_queue="probe"
        )
    assert result == len(ALL)


async def test_dev_server_knows_contract_attributes(dev_env: WorkflowEnvironment) -> None:
    assert {k.name for k in ALL} <= await _attribute_names(dev_env)
