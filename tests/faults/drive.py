"""Complaint traffic for the fault tests: bodies, a full lifecycle, and many of them at once
through the command functions backend services use (`commands.complaints`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.questionnaire import questionnaire_json
from infra.concurrency import gather_bounded

ASSESS = {"category": "fees", "severity": "medium", "department": "wealth-ops", "handler": "h-12"}
INVESTIGATE = {
    "findings": "Fee schedule v3 was applied to a v2 product",
    "evidence": ["statement-2026-10"],
    "root_cause": "pricing_error",
    "done": True,
}
SATISFIED = {"satisfaction": 5, "comment": "refund received"}


def resolve_body() -> dict[str, Any]:
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    return {"measures": "Refund the difference", "owner": "h-12", "due": due}


def lifecycle() -> list[tuple[str, dict[str, Any]]]:
    """Open → assess → investigate (done) → resolve → follow-up 5: the complaint closes."""
    return [
        ("assess", ASSESS),
        ("investigate", INVESTIGATE),
        ("resolve", resolve_body()),
        ("follow-up", SATISFIED),
    ]


def intake(complaint_id: str, *, on_matter: bool = False) -> dict[str, Any]:
    """One client per complaint, so no two submissions merge; `on_matter` gives the intake a
    category, which routes the open through the matter registry workflow as well."""
    body: dict[str, Any] = {
        "complaint_id": complaint_id,
        "client_id": f"cl-{complaint_id}",
        "channel": "hotline",
        "content": "The fund's fees were higher than I was told at purchase.",
        "complainant": {"name": "Li Lei", "phone": "+86 138 0013 8000"},
    }
    if on_matter:
        body["category"] = "fees"
    return body


class Progress:
    """Counts completed commands and wakes whoever waits for a given count."""

    def __init__(self) -> None:
        self.done = 0
        self._changed = asyncio.Condition()

    async def step(self) -> None:
        async with self._changed:
            self.done += 1
            self._changed.notify_all()

    async def reached(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.done >= count)


async def reached_or_failed(progress: Progress, count: int, work: asyncio.Future[Any]) -> None:
    """Returns once `count` commands were answered; raises at once if the work failed first
    (waiting on the count alone would wait for ever on work that stopped)."""
    reached = asyncio.ensure_future(progress.reached(count))
    await asyncio.wait({reached, work}, return_when=asyncio.FIRST_COMPLETED)
    if not reached.done():
        reached.cancel()
        work.result()
        raise AssertionError(f"the work ended after {progress.done} commands, before {count}")


async def bounded(jobs: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    return await gather_bounded(jobs, lambda job: job(), limit)


async def open_complaint(ctx: CommandContext, complaint_id: str, **kw: Any) -> dict[str, Any]:
    return await COMMANDS["open"](ctx, None, intake(complaint_id, **kw))


async def command(
    ctx: CommandContext,
    verb: str,
    complaint_id: str,
    body: dict[str, Any],
    progress: Progress | None = None,
) -> dict[str, Any]:
    answer = await COMMANDS[verb](ctx, complaint_id, body)
    if progress is not None:
        await progress.step()
    return answer


async def drive(
    ctx: CommandContext, complaint_id: str, steps: Sequence[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Runs the steps in order; returns each command's answer."""
    return [await command(ctx, verb, complaint_id, body) for verb, body in steps]


def wave(
    ctx: CommandContext,
    verb: str,
    body: dict[str, Any],
    ids: Sequence[str],
    limit: int,
    progress: Progress | None = None,
) -> asyncio.Future[list[Any]]:
    """One command to every complaint, `limit` at a time. A wave per step, rather than each
    complaint racing through its own lifecycle, keeps every complaint open and mid-way while
    the wave runs."""
    jobs = [partial(command, ctx, verb, cid, body, progress) for cid in ids]
    return asyncio.ensure_future(bounded(jobs, limit))


def client_file(client_id: str) -> dict[str, Any]:
    """A client to onboard: a gold-tier individual who answered the risk questionnaire."""
    return {
        "client_id": client_id,
        "kind": "individual",
        "basic": {
            "name": "Wang Fang",
            "gender": "female",
            "birth_date": "1979-06-14",
            "phone": "13900139000",
            "email": "wang.fang@example.com",
        },
        "financial": {"assets": [{"asset_class": "funds", "amount": 900000}]},
        "metrics": {"aum": 900000, "annual_contribution": 9000, "transactions_12m": 3},
        "advisor_id": "adv-07",
        "consents": {"granted": {"sms": ["service", "care", "complaint"], "email": ["care"]}},
        "risk_answers": [1 for _ in questionnaire_json()["questions"]],
    }
