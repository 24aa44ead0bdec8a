"""`starter.py search overdue-callbacks [--json '{"tier": "diamond"}']`: the README's saved
search that needs "now minus the policy's callback grace", with the cutoff filled in.

Temporal's visibility queries have no `now()`, so a search for "due longer ago than the grace"
needs a timestamp; this command computes it from the policy rather than having a supervisor
type one, and answers with the query it ran (to paste into the UI) and the clients it found.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from commands.base import CommandContext, CommandError
from domain.enums import Tier
from domain.saved_searches import overdue_callbacks_query, overdue_cutoff

MOST = 1000  # workflow ids answered; `count` says how many matched in all


async def overdue_callbacks(
    ctx: CommandContext, _id: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    if set(body) - {"tier"}:
        raise CommandError("search overdue-callbacks: the only field is tier", "invalid")
    try:
        tier = Tier(body.get("tier", Tier.DIAMOND.value))
    except ValueError:
        tiers = "|".join(t.value for t in Tier)
        raise CommandError(f"search overdue-callbacks: tier must be {tiers}", "invalid") from None
    cutoff = overdue_cutoff(ctx.policy, datetime.now(UTC))
    query = overdue_callbacks_query(tier, cutoff)
    ids: list[str] = []
    count = 0
    async for wf in ctx.client.list_workflows(query):
        count += 1
        if len(ids) < MOST:
            ids.append(wf.id)
    return {"query": query, "cutoff": cutoff.isoformat(), "count": count, "workflow_ids": ids}


COMMANDS = {"overdue-callbacks": overdue_callbacks}
