"""Runs one fuzzed command and judges the outcome; keeps a live workflow in each state.

An outcome is acceptable when the command answers with a JSON object, or refuses with a
`CommandError` whose message is non-empty, does not echo the input back (a refusal must not
carry a 70 000-character field, or personal data, into logs) and is not `unavailable`: with a
worker running, a workflow that does not answer is a stuck workflow. Anything else (an SDK or
pydantic exception escaping, a hang) fails the example.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from commands import clients, complaints, events, improvements, subject_requests
from commands.base import CommandContext, CommandError
from commands.catalog import NOUNS
from tests.faults.drive import ASSESS, client_file, intake, resolve_body
from tests.fuzz.strategies import TARGET
from workflows.complaint_models import matter_workflow_id


def fresh_id(prefix: str) -> str:
    """A new id whose random part starts with a letter: an all-digit part can have a phone
    number's shape, which every identifier refuses (`domain.identifiers`)."""
    return f"{prefix}-x{uuid.uuid4().hex[:10]}"


LIVENESS_SECONDS = 180
"""How long a command may take before the example counts as stuck: longer than the commands'
own two-minute answer bound, so a command that reports itself unavailable is judged as such."""
ECHO = 200
"""A refusal quoting this many consecutive characters of one input string echoes the input."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def echoes(message: str, body: Any) -> bool:
    return any(len(s) >= ECHO and s[:ECHO] in message for s in _strings(body))


def judge_refusal(what: str, err: CommandError, body: Any) -> None:
    # Outside the `except`: a failure shows the refusal, not the exception chain behind it.
    shown = err.message[:300] + (
        f"... ({len(err.message)} characters)" if len(err.message) > 300 else ""
    )
    assert err.message.strip(), f"{what}: a refusal without a message"
    assert err.code != "unavailable", f"{what} got no answer: {shown}"
    assert not echoes(err.message, body), f"{what} echoes its input: {shown}"


async def _complaint(ctx: CommandContext, steps: list[tuple[str, dict[str, Any]]]) -> str:
    cid = fresh_id("fz")
    await complaints.COMMANDS["open"](ctx, None, intake(cid))
    for verb, body in steps:
        await complaints.COMMANDS[verb](ctx, cid, body)
    return cid


async def _client(ctx: CommandContext) -> str:
    client_id = fresh_id("fzc")
    await clients.onboard(ctx, None, client_file(client_id))
    return client_id


async def _event(ctx: CommandContext) -> str:
    event_id = fresh_id("fze")
    await events.create(ctx, None, event_body(event_id))
    return event_id


async def _matter(ctx: CommandContext) -> str:
    """The open-complaint registry of a fresh client's `fees` matter."""
    client_id = fresh_id("fzm")
    await complaints.COMMANDS["open"](
        ctx, None, {**intake("x"), "complaint_id": None, "client_id": client_id, "category": "fees"}
    )
    return matter_workflow_id(f"{client_id}:fees")


async def _measure(ctx: CommandContext) -> str:
    measure_id = fresh_id("fzi")
    body = {
        "cause": "pricing_error",
        "measure": "Check fees",
        "owner": "ops-1",
        "due": "2027-01-31",
    }
    await improvements.add(ctx, None, {**body, "measure_id": measure_id})
    return measure_id


async def _subject_request(ctx: CommandContext) -> str:
    """A correction request of a fresh client, acknowledged and waiting for its answer."""
    client_id = await _client(ctx)
    answer = await subject_requests.request(ctx, None, subject_request_body(client_id))
    return str(answer["request_id"])


def subject_request_body(client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "kind": "correction",
        "correction": {"basic": {"phone": "13900139002"}},
    }


def event_body(event_id: str) -> dict[str, Any]:
    # Institutions of the diamond tier only: an event invites its whole segment from the shared
    # read models, and fuzzing should not send hundreds of invitations per example.
    return {
        "event_id": event_id,
        "kind": "seminar",
        "title": "Macro outlook 2027",
        "starts_at": "2027-03-01T09:30:00+08:00",
        "segment": {"tiers": ["diamond"], "kinds": ["institution"]},
    }


INVESTIGATING = ("investigate", {"findings": "statement reviewed", "done": True})
ROLES: dict[str, Callable[[CommandContext], Awaitable[str]]] = {
    "assessment": lambda ctx: _complaint(ctx, []),
    "investigation": lambda ctx: _complaint(ctx, [("assess", ASSESS)]),
    "complex": lambda ctx: _complaint(ctx, [("assess", {**ASSESS, "complex": True})]),
    "resolution": lambda ctx: _complaint(ctx, [("assess", ASSESS), INVESTIGATING]),
    "follow_up": lambda ctx: _complaint(
        ctx, [("assess", ASSESS), INVESTIGATING, ("resolve", resolve_body())]
    ),
    "client": _client,
    "event": _event,
    "matter": _matter,
    "measure": _measure,
    "subject_request": _subject_request,
}


FRESH = "@fresh"
"""In a body: replaced by a new unique id, so that creating commands create rather than collide
(collisions are fuzzed too: a mutation may keep or break the marker)."""


def _fresh(value: Any) -> Any:
    if value == FRESH:
        return fresh_id("fz")
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


class FuzzRig:
    def __init__(self, ctx: CommandContext, out_dir: Path) -> None:
        self.ctx = ctx
        self.out_dir = out_dir
        self.targets: dict[str, str] = {}
        self.tally: dict[str, dict[str, int]] = defaultdict(dict)

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"FuzzRig(task_queue={self.ctx.task_queue!r})"

    async def target(self, role: str) -> str:
        if role not in self.targets:
            self.targets[role] = await ROLES[role](self.ctx)
        return self.targets[role]

    def retire(self, role: str) -> None:
        """The target moved on (a stage changed, the workflow ended): build a fresh one."""
        self.targets.pop(role, None)

    async def run(
        self, noun: str, verb: str, ident: str | None, body: dict[str, Any], role: str | None
    ) -> dict[str, Any] | None:
        """The command's answer, or None for an acceptable refusal; fails the example else."""
        if ident == TARGET:
            ident = await self.target(role) if role else None
        body = _fresh(body)
        if (noun, verb) == ("report", "build"):  # never write reports where the fuzz says
            body["out_dir"] = str(self.out_dir / uuid.uuid4().hex[:8])
        command = NOUNS[noun][verb]
        refusal: CommandError | None = None
        try:
            async with asyncio.timeout(LIVENESS_SECONDS):
                answer = await command(self.ctx, ident, body)
        except CommandError as err:
            refusal = err
        if refusal is not None:
            self._count(noun, verb, refusal.code)
            judge_refusal(f"{noun} {verb}", refusal, body)
            return None
        assert isinstance(answer, dict), f"{noun} {verb} answered {type(answer).__name__}"
        self._count(noun, verb, "ok")
        return answer

    def _count(self, noun: str, verb: str, outcome: str) -> None:
        counts = self.tally[f"{noun} {verb}"]
        counts[outcome] = counts.get(outcome, 0) + 1
