"""`client erase ID` (PIPL deletion on the client's request).

Body: `{"requested_by": "<staff id>", "reason": "<request reference>"}`.

For now the command runs the erasure on the read models directly (`run_erase`). Where it belongs
is the client workflow, which holds the same personal data in its state and would project it
again: the command should send the `client-<id>` workflow an `erase_personal_data` Update whose
validator checks the body, whose handler drops the personal fields from the workflow state, runs
the `erase_client_personal_data` activity (activities.privacy) and continues-as-new so the new
run's input carries none. docs/security.md describes the rest (histories, retention).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from activities.privacy import EraseRequest, UnknownClientError, erase_personal_data
from commands.base import CommandContext, CommandError


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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise CommandError(f"client erase: {problems}", details=None) from None


def run_erase(engine: Engine, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request = _request(client_id, body)
    try:
        result = erase_personal_data(engine, request)
    except UnknownClientError as exc:
        raise CommandError(str(exc), "not_found") from None
    return result.model_dump(mode="json")


async def erase(ctx: CommandContext, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    from infra.database import database_url, make_engine
    from infra.settings import get_settings

    _request(client_id, body)  # refuse a bad body before touching the database
    engine = make_engine(database_url(get_settings()))
    try:
        return await asyncio.to_thread(run_erase, engine, client_id, body)
    finally:
        engine.dispose()
