"""The simulated advisors: every working morning they look at what is due in the read models,
as real advisors would in their work queue, and record callbacks, plan reviews and risk
re-assessments through the same commands a backend would call.

Each advisor makes a share of their calls (`YearPlan.diligence`, rising as the year's
improvement measures land); the rest go overdue and the workflows escalate them. Some calls are
made days late. Satisfaction and the NPS question follow the advisor's diligence.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from commands import clients
from commands.base import CommandContext, CommandError
from domain.questionnaire import questionnaire_json
from infra.concurrency import gather_bounded
from projections.tables import service_tasks
from simulation.plan import YearPlan, progress

ANSWERED = ("callback", "plan_review", "risk_assessment")
OPEN = ("due", "overdue")
# Days after the due date a made call happens: most on time, some inside the grace, a few late.
LAG_DAYS = [0, 0, 0, 0, 1, 1, 2, 3, 5, 9, 14]


class Staff:
    def __init__(self, ctx: CommandContext, engine: Engine, plan: YearPlan, seed: int) -> None:
        self._ctx, self._engine, self._plan = ctx, engine, plan
        self._rng = random.Random(seed)
        self._when: dict[str, datetime | None] = {}  # task id -> when it will be done, or never
        self._options = [len(q["options"]) for q in questionnaire_json()["questions"]]
        self.outcomes: Counter[str] = Counter()

    def _due(self, now: datetime) -> list[Any]:
        t = service_tasks
        query = select(t.c.task_id, t.c.client_id, t.c.kind, t.c.due_at, t.c.advisor_id).where(
            t.c.status.in_(OPEN), t.c.kind.in_(ANSWERED), t.c.due_at <= now
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query.order_by(t.c.due_at, t.c.task_id)))

    def _decide(self, task: Any) -> datetime | None:
        if task.kind == "risk_assessment":
            make = 0.85
        else:
            make = self._plan.diligence.get(task.advisor_id or "", 0.8)
            make = min(0.99, make + 0.1 * progress(self._plan, task.due_at))
        if self._rng.random() >= make:
            return None
        due: datetime = task.due_at
        return due + timedelta(days=self._rng.choice(LAG_DAYS))

    def _answers(self, advisor: str | None) -> dict[str, Any]:
        care = self._plan.diligence.get(advisor or "", 0.8)
        satisfaction = self._rng.choices([5, 4, 3, 2, 1], [care * 6, 4, 2 - care, 1 - care, 0.3])[0]
        recommend = min(10, max(0, 2 * satisfaction + self._rng.choice([-2, -1, 0, 0, 1])))
        return {"satisfaction": satisfaction, "recommend": recommend}

    async def _record(self, task: Any) -> None:
        try:
            if task.kind == "risk_assessment":
                answers = [self._rng.randrange(n) for n in self._options]
                body: dict[str, Any] = {"risk_answers": answers}
                await clients.COMMANDS["update"](self._ctx, task.client_id, body)
            else:
                body = {
                    "kind": task.kind,
                    "task_id": task.task_id,
                    **self._answers(task.advisor_id),
                }
                if self._rng.random() < 0.3:
                    body["new_needs"] = "asked about an education fund"
                await clients.COMMANDS["callback"](self._ctx, task.client_id, body)
            self.outcomes[f"{task.kind} done"] += 1
        except CommandError as err:
            # A callback left overdue until the next one came due is superseded: the workflow
            # refuses it, as it would refuse the advisor. Counted, not hidden.
            self.outcomes[f"{task.kind} refused ({err.code})"] += 1

    async def morning(self, now: datetime) -> None:
        """Decides the fate of newly due tasks and records those whose time has come."""
        ready = []
        for task in await asyncio.to_thread(self._due, now):
            if task.task_id not in self._when:
                self._when[task.task_id] = self._decide(task)
                if self._when[task.task_id] is None:
                    self.outcomes[f"{task.kind} never made"] += 1
            done_at = self._when[task.task_id]
            if done_at is not None and done_at <= now:
                self._when[task.task_id] = None  # once
                ready.append(task)
        await gather_bounded(ready, self._record, 8)
