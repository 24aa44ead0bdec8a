"""A worklist on the real dev server's visibility, with workflows whose search attributes are set
at start (types `ComplaintWorkflow` and `ClientServiceWorkflow` on a task queue nobody polls, so
they stay open exactly as written), read-model rows for what visibility does not carry, and the
codec server in front of it. Each run uses its own department and advisors, so workflows other
tests leave on the shared dev server stay out of the rows compared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.policy import Policy
from infra.codec_server import make_app
from infra.keys import KeyRing
from infra.worklist import Worklist, connect_visibility
from projections.tables import clients, complaints
from workflows import search_attributes as sa

TOKEN = "worklist-test-token-" + "y" * 24
UI = "http://localhost:8233"
NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 16:30 in Asia/Shanghai
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Case:
    complaint_id: str
    stage: str
    severity: str
    category: str
    deadline: datetime | None
    breached: bool
    handler: str
    reopen_count: int = 0


@dataclass
class Seeded:
    run: str
    department: str
    advisor: str
    other_advisor: str
    complaints: list[Case]
    duties: dict[str, tuple[str, datetime, str]]  # client id -> (tier, due, advisor)
    server: TestServer


def cases(run: str) -> list[Case]:
    return [
        # open, 2 days to go
        Case(f"wl-{run}-a", "investigation", "medium", "fees", NOW + 2 * DAY, False, "s-a"),
        # breached by the workflow, 3 days ago
        Case(f"wl-{run}-b", "investigation", "high", "fees", NOW - 3 * DAY, True, "s-b"),
        # due an hour ago, the breach timer not yet fired: late all the same
        Case(f"wl-{run}-c", "resolution", "low", "service", NOW - timedelta(hours=1), False, "s-c"),
        # far off, reopened twice; a handler id with markup, which the page must escape
        Case(
            f"wl-{run}-d", "investigation", "critical", "suitability", NOW + timedelta(days=9),
            False, "<b>s-d</b>", 2,
        ),
        # not yet assessed: no deadline
        Case(f"wl-{run}-e", "assessment", "medium", "other", None, False, "s-e"),
    ]  # fmt: skip


def expected_order(run: str) -> list[str]:
    """Breached first (b three days late, then c one hour), then by deadline, none last."""
    return [f"complaint-wl-{run}-{x}" for x in "bcade"]


async def _start(client: Client, workflow: str, wid: str, pairs: list[Any]) -> WorkflowHandle:
    return await client.start_workflow(
        workflow,
        id=wid,
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:6]}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(k, v) for k, v in pairs]),
    )


@asynccontextmanager
async def seeded_worklist(
    client: Client, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[Seeded]:
    run = uuid.uuid4().hex[:6]
    department, advisor, other = f"dept-{run}", f"adv-{run}", f"adv-{run}-2"
    found = cases(run)
    duties = {
        f"wl-{run}-c1": ("diamond", NOW - timedelta(days=12), advisor),
        f"wl-{run}-c2": ("gold", NOW - timedelta(days=30), advisor),
        f"wl-{run}-c3": ("diamond", NOW - timedelta(days=8), other),
        # due 3 days ago: inside the 7-day grace, so not overdue yet
        f"wl-{run}-c4": ("diamond", NOW - timedelta(days=3), advisor),
    }
    handles: list[WorkflowHandle] = []
    stamp = datetime.now(UTC)
    with db.begin() as conn:
        for c in found:
            wid = f"complaint-{c.complaint_id}"
            attrs: list[Any] = [
                (sa.CLIENT_ID, f"cl-{run}"),
                (sa.COMPLAINT_STAGE, c.stage),
                (sa.COMPLAINT_SEVERITY, c.severity),
                (sa.COMPLAINT_CATEGORY, c.category),
                (sa.RESPONSIBLE_DEPARTMENT, department),
                (sa.SLA_BREACHED, c.breached),
                (sa.REOPEN_COUNT, c.reopen_count),
            ]
            if c.deadline:
                attrs.append((sa.SLA_DEADLINE, c.deadline))
            handles.append(await _start(client, "ComplaintWorkflow", wid, attrs))
            conn.execute(
                complaints.insert().values(
                    complaint_id=c.complaint_id, workflow_id=wid, seq=1, client_id=f"cl-{run}",
                    channel="hotline", stage=c.stage, handler=c.handler, received_at=stamp,
                    updated_at=stamp,
                )
            )  # fmt: skip
        for cid, (tier, due, adv) in duties.items():
            wid = f"client-{cid}"
            attrs = [
                (sa.CLIENT_ID, cid),
                (sa.CLIENT_TIER, tier),
                (sa.SERVICE_STATUS, "active"),
                (sa.NEXT_SERVICE_DUE, due),
            ]
            handles.append(await _start(client, "ClientServiceWorkflow", wid, attrs))
            conn.execute(
                clients.insert().values(
                    client_id=cid, workflow_id=wid, seq=1, kind="individual", tier=tier,
                    risk_profile="C3", status="active", advisor_id=adv, next_service_due=due,
                    next_service_kind="callback", updated_at=stamp,
                )
            )  # fmt: skip
    ours = {h.id for h in handles}
    try:
        for _ in range(100):  # visibility is eventually consistent
            ids = ", ".join(f"'{i}'" for i in [f"cl-{run}", *duties])
            listed = {wf.id async for wf in client.list_workflows(f"ClientId IN ({ids})")}
            if listed >= ours:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the seeded workflows never became visible")

        # The page's own kind of client: no codec, so it could not decrypt what it lists.
        plain = await connect_visibility(client.service_client.config.target_host, client.namespace)
        assert plain.data_converter.payload_codec is None

        async def visibility() -> Client:
            return plain

        worklist = Worklist(
            client=visibility,
            engine=db,
            policy=lambda _now: policy,
            namespace=client.namespace,
            ui_url=UI,
            now=lambda: NOW,
        )
        app = make_app(keyring, TOKEN, UI, worklist=worklist)
        async with TestServer(app, host="127.0.0.1") as server:
            yield Seeded(run, department, advisor, other, found, duties, server)
    finally:
        for h in handles:
            await h.terminate("worklist test done")
