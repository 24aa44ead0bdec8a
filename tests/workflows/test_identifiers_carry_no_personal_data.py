"""Identifiers a caller chooses never carry personal data: they become workflow ids, update ids,
search attributes and key columns, all stored in clear. A phone number or resident ID number in
the shape of an id is refused by every command that takes one, before anything is started."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from commands import clients, events, improvements, privacy
from commands.base import CommandContext, CommandError, request_id_arg
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from tests.faults.drive import ASSESS
from tests.helpers.complaint_env import complaint_context, intake

ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"
STARTS = "2027-03-01T09:30:00+08:00"


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield dataclasses.replace(ctx, engine=db)


async def refused(call: Any) -> CommandError:
    try:
        await call
    except CommandError as err:
        return err
    raise AssertionError("accepted")


async def never_started(ctx: CommandContext, workflow_id: str) -> bool:
    try:
        await ctx.client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        return err.status == RPCStatusCode.NOT_FOUND
    return False


def says_why(err: CommandError, field: str) -> None:
    assert err.code in ("invalid", "usage"), err.as_json()
    assert field in err.message and "phone or ID number" in err.message, err.message


async def test_a_complaint_id_shaped_like_an_id_number_is_refused(ctx: CommandContext) -> None:
    err = await refused(COMMANDS["open"](ctx, None, intake("c-1", complaint_id=ID_NUMBER)))
    says_why(err, "complaint_id")
    assert await never_started(ctx, f"complaint-{ID_NUMBER}")
    says_why(await refused(COMMANDS["show"](ctx, ID_NUMBER, {})), "complaint id")
    says_why(await refused(COMMANDS["assess"](ctx, ID_NUMBER, ASSESS)), "complaint id")


async def test_a_matter_reference_shaped_like_a_phone_is_refused(ctx: CommandContext) -> None:
    err = await refused(COMMANDS["open"](ctx, None, intake("c-1", matter=MOBILE)))
    says_why(err, "matter")
    assert await never_started(ctx, f"complaint-matter:c-1:{MOBILE}")


@pytest.mark.parametrize("key", [MOBILE, ID_NUMBER, f"req:{MOBILE}", f"retry-{ID_NUMBER}-2"])
def test_a_request_key_shaped_like_a_phone_or_id_number_is_refused(key: str) -> None:
    with pytest.raises(CommandError) as err:
        request_id_arg(key)
    says_why(err.value, "--request-id")


async def test_a_request_key_is_checked_however_the_context_is_built(
    ctx: CommandContext,
) -> None:
    # A service importing the commands builds its own context, without starter's parsing.
    with pytest.raises(CommandError) as err:
        dataclasses.replace(ctx, request_id=MOBILE)
    says_why(err.value, "--request-id")


@pytest.mark.parametrize(
    ("verb", "body", "field"),
    [
        ("assess", {"category": "fees", "severity": "low", "department": "ops"}, "handler"),
        ("extend", {"reason": "records"}, "approved_by"),
        ("resolve", {"measures": "refund", "due": "2099-01-01"}, "owner"),
        ("reassign", {}, "handler"),
    ],
)
async def test_staff_ids_shaped_like_a_phone_are_refused(
    ctx: CommandContext, verb: str, body: dict[str, Any], field: str
) -> None:
    err = await refused(COMMANDS[verb](ctx, "cmp-1", {**body, field: MOBILE}))
    says_why(err, field)


async def test_other_chosen_ids_shaped_like_personal_data_are_refused(
    ctx: CommandContext,
) -> None:
    event = {
        "event_id": MOBILE,
        "kind": "seminar",
        "title": "Outlook",
        "starts_at": "2027-03-01T09:30:00+08:00",
    }
    says_why(await refused(events.create(ctx, None, event)), "event_id")
    says_why(await refused(events.COMMANDS["show"](ctx, ID_NUMBER, {})), "event")
    measure = {"cause": "pricing_error", "measure": "Check", "owner": "ops-1", "due": "2027-01-31"}
    says_why(
        await refused(improvements.add(ctx, None, {**measure, "measure_id": ID_NUMBER})),
        "measure_id",
    )
    says_why(await refused(improvements.done(ctx, f"im-{MOBILE}", {})), "MEASURE_ID")
    says_why(await refused(improvements.add(ctx, None, {**measure, "owner": MOBILE})), "owner")
    says_why(await refused(clients.show(ctx, f"c-{MOBILE}", {})), "client")
    callback = {"satisfaction": 4, "advisor_id": MOBILE}
    says_why(await refused(clients.callback(ctx, "c-1", callback)), "advisor_id")
    erase = {"requested_by": MOBILE, "reason": "PIPL-1"}
    says_why(await refused(privacy.erase(ctx, "c-1", erase)), "requested_by")
