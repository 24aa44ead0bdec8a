"""The README's saved searches, read from the README and run on the real dev server's visibility.

Each query must pick, among this test's workflows, exactly the ones a supervisor asks for. Other
tests share the dev server, so workflows that are not this test's are left out of the comparison.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands import clients, complaints, searches
from commands.base import CommandContext
from commands.demo import DemoSize, load_demo
from domain.enums import Tier
from domain.periods import Period
from domain.policy import Policy, ServicePolicy
from infra.keys import KeyRing
from infra.settings import ROOT
from projections.crypto import FieldCipher
from tests.workflows.test_client_support import client_body
from worker import build_worker

# Diamond callbacks every few seconds, so one is overdue within the test.
FAST = Policy(
    service=ServicePolicy(
        callback_every={
            Tier.DIAMOND: Period.parse("PT3S"),
            Tier.PLATINUM: Period.parse("P3M"),
            Tier.GOLD: Period.parse("P6M"),
            Tier.REGULAR: Period.parse("P1Y"),
        },
        callback_grace=Period.parse("PT1S"),
        callback_jitter=Period.parse("PT1S"),
    )
)


def readme_queries() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Saved searches", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| `([^`]+)` \|$", section, flags=re.M)
    return dict(rows)


async def _serving(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    queue = f"searches-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=16) as pool:
        async with build_worker(dev_env.client, queue, deps, pool):
            yield CommandContext(client=dev_env.client, policy=policy, task_queue=queue)


@pytest.fixture
async def care(dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing) -> AsyncIterator[Any]:
    async for ctx in _serving(dev_env, db, keyring, FAST):
        yield ctx


@pytest.fixture
async def shipped(dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing) -> AsyncIterator[Any]:
    """The shipped cadence (diamond callbacks monthly, a week's grace), as `make run` has it:
    nothing the demo loads falls overdue by itself while a test runs."""
    async for ctx in _serving(dev_env, db, keyring, Policy()):
        yield ctx


async def _matches(client: Client, query: str, ours: set[str]) -> set[str]:
    found = {wf.id async for wf in client.list_workflows(query)}
    return found & ours


async def _open_complaint(ctx: CommandContext, client_id: str, days_ago: int = 0) -> str:
    body: dict[str, Any] = {
        "client_id": client_id,
        "channel": "hotline",
        "content": "Fees higher than disclosed",
        "complainant": {"name": "Test Person", "phone": "13900001111"},
    }
    if days_ago:
        body["received_at"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    opened = await complaints.COMMANDS["open"](ctx, None, body)
    return str(opened["complaint_id"])


async def _to_investigation(
    ctx: CommandContext, cid: str, department: str, severity: str = "medium"
) -> None:
    await complaints.COMMANDS["assess"](
        ctx,
        cid,
        {"category": "fees", "severity": severity, "department": department, "handler": "s-1"},
    )


async def _reopen(ctx: CommandContext, cid: str) -> None:
    await complaints.COMMANDS["investigate"](ctx, cid, {"findings": "checked", "done": True})
    await complaints.COMMANDS["resolve"](
        ctx, cid, {"measures": "refund", "owner": "s-1", "due": "2030-01-01"}
    )
    await complaints.COMMANDS["follow-up"](ctx, cid, {"satisfaction": 2, "comment": "no"})


async def test_every_saved_search_finds_what_it_says(care: CommandContext) -> None:
    queries = readme_queries()
    assert len(queries) >= 5, queries
    run = uuid.uuid4().hex[:6]
    ctx = care

    diamond = f"ss-{run}-dia"
    platinum = f"ss-{run}-pla"
    for cid, tier in ((diamond, Tier.DIAMOND), (platinum, Tier.PLATINUM)):
        await clients.onboard(ctx, None, client_body(cid, tier))

    late = await _open_complaint(ctx, diamond, days_ago=20)
    await _to_investigation(ctx, late, "compliance", severity="high")
    fresh = await _open_complaint(ctx, platinum)
    await _to_investigation(ctx, fresh, "wealth-ops")
    twice = await _open_complaint(ctx, platinum)
    await _to_investigation(ctx, twice, "compliance")
    await _reopen(ctx, twice)
    await _reopen(ctx, twice)
    closed = await _open_complaint(ctx, diamond)
    await _to_investigation(ctx, closed, "wealth-ops")
    await complaints.COMMANDS["withdraw"](ctx, closed, {"reason": "settled"})

    ids = {k: f"complaint-{v}" for k, v in dict(late=late, fresh=fresh, twice=twice).items()}
    ids |= {"closed": f"complaint-{closed}", "diamond": f"client-{diamond}"}
    ids["platinum"] = f"client-{platinum}"
    ours = set(ids.values())
    expected = {
        "open complaints past deadline": {ids["late"]},
        "in investigation, past deadline": {ids["late"]},
        "complaints in investigation by department": {ids["fresh"]},
        "open complaints of high or critical severity": {ids["late"]},
        "complaints reopened more than once": {ids["twice"]},
    }
    assert set(expected) <= set(queries), sorted(queries)

    await asyncio.sleep(6)  # the diamond client's first callback falls due and its grace passes
    results: dict[str, set[str]] = {}
    overdue: set[str] = set()
    for _ in range(30):  # visibility is eventually consistent
        for question in expected:
            results[question] = await _matches(ctx.client, queries[question], ours)
        # The search that needs "now minus callback_grace" is a command (README), not a row.
        found = await searches.overdue_callbacks(ctx, None, {"tier": "diamond"})
        overdue = set(found["workflow_ids"]) & ours
        if results == expected and overdue == {ids["diamond"]}:
            break
        await asyncio.sleep(1)
    assert results == expected
    assert overdue == {ids["diamond"]}
    assert "'<" not in " ".join(queries.values()), "a README search asks for a typed-in value"


async def test_every_saved_search_finds_something_on_the_demo(shipped: CommandContext) -> None:
    """What `make run` shows a supervisor: each README search, as written, finds demo workflows
    (demo ids only, since other tests share the server), even on a demo of three complaints;
    and the diamond search (a command, and the worklist's ready link) finds the demo's diamond
    client that owed a callback when it was brought over, under the shipped cadence."""
    await load_demo(shipped, DemoSize(clients=4, complaints=3))
    queries = readme_queries()
    found: dict[str, int] = {}
    demo = ("complaint-demo-", "client-demo-")
    for _ in range(30):  # visibility is eventually consistent
        for question, query in queries.items():
            ids = {wf.id async for wf in shipped.client.list_workflows(query)}
            found[question] = len({i for i in ids if i.startswith(demo)})
        overdue = await searches.overdue_callbacks(shipped, None, {"tier": "diamond"})
        found["diamond clients with an overdue callback"] = len(
            {i for i in overdue["workflow_ids"] if i.startswith(demo)}
        )
        if all(found.values()):
            break
        await asyncio.sleep(1)
    assert all(found.values()), found
    # Overdue from the load on, not a month and a grace later: the duty it was owed before.
    view = await clients.show(shipped, "demo-c-0001", {})
    owed = [t for t in view["open_tasks"] if ":owed-callback:" in t["task_id"]]
    assert view["tier"] == "diamond" and len(owed) == 1, view["open_tasks"]
    assert view["next_service_due"] == owed[0]["due_at"]  # the oldest open duty
    for _ in range(30):  # its grace ran out long ago: the run loop escalates it at once
        if owed[0]["status"] == "overdue":
            break
        await asyncio.sleep(1)
        view = await clients.show(shipped, "demo-c-0001", {})
        owed = [t for t in view["open_tasks"] if ":owed-callback:" in t["task_id"]]
    assert owed[0]["status"] == "overdue", owed
