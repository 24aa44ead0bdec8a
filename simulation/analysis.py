"""The simulated complaint analysis (DOMAIN §6): each quarter a supervisor reads the quarter's
complaints from the read models, takes the two most frequent root causes and records an
improvement measure for each, owned by the department that handled most of them; owners finish
their measures weeks later, some after the due date, a few not within the year."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from commands.improvements import NewMeasure, add_measure, complete_measure
from domain.periods import add_months
from projections.tables import complaints
from simulation.plan import YearPlan

MEASURES = {
    "pricing_error": "Reconcile fee schedules against product documents every month",
    "market_movement": "Show downside scenarios next to projected returns",
    "sales_practice": "Block sales above the client's risk level at order entry",
    "disclosure_gap": "Checklist of lock-up and fee terms signed before purchase",
    "staff_conduct": "Service-conduct refresher for branch staff",
    "system_failure": "Alert on settlements late by more than one day",
    "data_handling": "Audit third-party access to client contact data",
    "process_gap": "Written procedure for statement delivery changes",
}
TOP_CAUSES = 2


class Analyst:
    def __init__(self, engine: Engine, plan: YearPlan, seed: int) -> None:
        self._engine, self._plan = engine, plan
        self._rng = random.Random(seed)
        self._finish: dict[str, datetime] = {}  # measure id -> when its owner finishes it
        self.recorded = 0
        self.finished = 0

    def _quarter_causes(self, now: datetime) -> list[tuple[str, str]]:
        """(root cause, department handling most of them) for the quarter's top causes."""
        c = complaints
        query = select(c.c.root_cause, c.c.department).where(
            c.c.received_at >= add_months(now, -3),
            c.c.received_at < now,
            c.c.root_cause.is_not(None),
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        by_cause: dict[str, Counter[str]] = {}
        for cause, department in rows:
            by_cause.setdefault(cause, Counter())[department or "wealth-ops"] += 1
        ranked = sorted(by_cause.items(), key=lambda kv: (-kv[1].total(), kv[0]))
        return [(cause, depts.most_common(1)[0][0]) for cause, depts in ranked[:TOP_CAUSES]]

    def _review(self, now: datetime) -> None:
        zone = self._plan.start.tzinfo
        today = now.astimezone(zone).date()
        for cause, department in self._quarter_causes(now):
            new = NewMeasure(
                cause=cause,
                measure=MEASURES.get(cause, "Review the handling procedure"),
                owner=f"head-of-{department}",
                due=today + timedelta(days=45),
            )
            row = add_measure(self._engine, new, now, today)
            self.recorded += 1
            if self._rng.random() < 0.9:
                self._finish[row["measure_id"]] = now + timedelta(days=self._rng.uniform(20, 70))

    def _follow_up(self, now: datetime) -> None:
        today = now.astimezone(self._plan.start.tzinfo).date()
        for measure_id, when in sorted(self._finish.items()):
            if when <= now:
                complete_measure(self._engine, measure_id, now, today)
                del self._finish[measure_id]
                self.finished += 1

    async def review(self, now: datetime) -> None:
        await asyncio.to_thread(self._review, now)

    async def follow_up(self, now: datetime) -> None:
        await asyncio.to_thread(self._follow_up, now)
