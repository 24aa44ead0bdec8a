"""`client erase ID` (PIPL deletion on the client's request).

Body: `{"requested_by": "<staff id>", "reason": "<request reference>"}`.

A client still served is erased through its workflow (the `erase_personal_data` Update), which
holds the same personal data in its state and would otherwise project it again: the workflow
drops it, writes the emptied `clients` row, runs the `erase_client_personal_data` activity on
the other read models and ends the service. A client whose workflow has already ended (offboarded
earlier) is erased in the read models directly. docs/security.md describes what remains
(encrypted histories until retention).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from activities.privacy import EraseRequest, UnknownClientError, erase_personal_data
from commands.base import CommandContext, CommandError, engine_for
from domain.refusals import field_problems


def _request(client_id: str | None, body: dict[str, Any]) -> EraseRequest:
    if not client_id:
        raise CommandError("client erase needs the client id: `client erase <ID>`", "usage")
    unknown = set(body) - {"requested_by", "reason"}
    if unknown:
        raise CommandError(f"client erase: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        return EraseRequest(client_id=client_id, **body)
    except ValidationError as exc:
        # Field names and rules only: pydantic's own text would echo the input.
        raise CommandError(f"client erase: {field_problems(exc)}", "invalid") from None


def run_erase(engine: Engine, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request = _request(client_id, body)
    try:
        result = erase_personal_data(engine, request)
    except UnknownClientError as exc:
        raise CommandError(str(exc), "not_found") from None
    return result.model_dump(mode="json")


async def erase(ctx: CommandContext, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request = _request(client_id, body)  # refuse a bad body before anything else
    from commands.clients import guarded, settle
    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import ErasePersonalData, workflow_id_for

    handle = ctx.client.get_workflow_handle(workflow_id_for(request.client_id))
    update = ErasePersonalData(requested_by=request.requested_by, reason=request.reason)
    try:
        view = await guarded(
            f"client erase: no client {request.client_id} is being served",
            lambda: handle.execute_update(ClientServiceWorkflow.erase_personal_data, update),
        )
    except CommandError as err:
        if err.code != "not_found":  # not_found: never onboarded, or its workflow has ended
            raise
    else:
        await settle(ctx, request.client_id)
        return {"client_id": request.client_id, "erased_at": view.erased_at, "via": "workflow"}
    result = await asyncio.to_thread(run_erase, engine_for(ctx), client_id, body)
    return result | {"via": "read models"}
