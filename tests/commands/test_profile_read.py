"""`client show` opens a client's file for a person: the access log names the client and the
workflow read, before anything is shown, and nothing is shown when it cannot be recorded."""

from __future__ import annotations

import dataclasses
import getpass

import pytest
from sqlalchemy import Engine, create_engine, select

from commands import clients
from commands.base import CommandContext
from domain.enums import Tier
from projections.tables import access_log
from tests.commands.test_erase import ctx
from tests.workflows.test_client_support import client_body

__all__ = ["ctx"]


async def test_client_show_records_a_profile_read(
    ctx: CommandContext, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "advisor-7")
    await clients.onboard(ctx, None, client_body("c-read", Tier.GOLD))
    shown = await clients.show(ctx, "c-read", {})
    assert shown["file"]["client_id"] == "c-read"
    with db.connect() as conn:
        rows = conn.execute(select(access_log).where(access_log.c.action == "profile-read")).all()
    assert [(r.actor, r.client_id, r.workflow_id) for r in rows] == [
        (f"advisor-7|os:{getpass.getuser()}", "c-read", "client-c-read")
    ]
    assert rows[0].row_hash is not None, "the row is in the hash chain"

    unrecorded = dataclasses.replace(
        ctx, engine=create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    )
    with pytest.raises(Exception):  # noqa: B017 - any failure to record refuses the read
        await clients.show(unrecorded, "c-read", {})
