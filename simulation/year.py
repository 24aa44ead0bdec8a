"""Runs the year: a time-skipping server of its own, a worker with every workflow and activity
writing to the year's database, and the plan's commands each sent at its simulated moment.

Time moves only when the driver sleeps, so every command lands exactly when the plan says and
every timer in between (deadlines, escalations, callbacks, greetings, survey reminders) fires
in order, as it would over a real year. The time-skipping server has no schedules, so the
driver starts the monthly KPI runs and the quarterly tier reviews on the dates the default
schedules use (the 1st of each month at 03:00; of January, April, July, October at 02:00).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands import clients, complaints
from commands.base import CommandContext, CommandError
from commands.demo import DemoSize
from domain.kpi_period import ReportingPeriod
from domain.periods import add_months
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.keys import KeyRing
from infra.progress import progress_bar
from infra.temporal import data_converter, register_search_attributes
from projections.crypto import FieldCipher
from simulation.analysis import Analyst
from simulation.histories import StartedWorkflows, export_all, settle, with_children
from simulation.plan import Step, YearPlan, month_starts, plan_year
from simulation.staff import Staff
from workflows import search_attributes
from workflows.kpi_report import SCHEDULE_ID as KPI_REPORT
from workflows.kpi_report import KpiReportInput, KpiReportWorkflow
from workflows.tier_review import SCHEDULE_ID as TIER_REVIEW
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

TASK_QUEUE = "client-care-simulated-year"
REVIEW_MONTHS = (1, 4, 7, 10)
# The quarterly complaint analysis: the 5th at 11:00, two, five, eight and eleven months in.
ANALYSIS_MONTHS = (2, 5, 8, 11)
ANALYSIS_AT = timedelta(days=4, hours=11)
MORNING = timedelta(hours=9, minutes=30)
# Every command answers in well under a second of wall time; one that has not in this long
# never will (see `agenda`).
STUCK_AFTER = timedelta(seconds=90)


YEAR_SIZE = DemoSize(clients=300, complaints=300)


@dataclass
class YearResult:
    period: ReportingPeriod
    commands: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    staff: Counter[str] = field(default_factory=Counter)
    runs_exported: int = 0
    wall_seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "commands": dict(sorted(self.commands.items())),
            "refused": dict(sorted(self.refused.items())),
            "staff": dict(sorted(self.staff.items())),
            "histories": self.runs_exported,
            "wall_seconds": round(self.wall_seconds, 1),
        }


Action = Callable[[], Awaitable[None]]


async def sleep_until(env: WorkflowEnvironment, instant: datetime) -> None:
    """Skips to `instant` a day at most at a time: one long skip fires every timer on the way
    inside a single server call, which can outlast the call's deadline."""
    now = await env.get_current_time()
    while instant > now:
        step = min(instant - now, timedelta(days=1))
        await env.sleep(step)
        now += step


class SimulationStuckError(RuntimeError):
    """A command got no answer: the simulation stops rather than report a year with a hole."""


async def _within(action: Action, label: str, at: datetime) -> None:
    """`label` names the action by ids only: never the body, which holds personal data."""
    try:
        await asyncio.wait_for(action(), STUCK_AFTER.total_seconds())
    except TimeoutError:
        raise SimulationStuckError(
            f"no answer within {STUCK_AFTER} (wall clock) to {label} at {at.isoformat()}"
        ) from None


class YearDriver:
    def __init__(self, ctx: CommandContext, plan: YearPlan, staff: Staff, result: YearResult):
        self._ctx, self._plan, self._staff, self._result = ctx, plan, staff, result
        self.started: list[WorkflowHandle[Any, Any]] = []

    async def step(self, step: Step) -> None:
        verbs = (clients if step.noun == "client" else complaints).COMMANDS
        try:
            await verbs[step.verb](self._ctx, step.target, step.body)
            self._result.commands[f"{step.noun} {step.verb}"] += 1
        except CommandError as err:
            self._result.refused[f"{step.noun} {step.verb} ({err.code})"] += 1

    async def scheduled(self, run: Any, inp: Any, schedule_id: str, at: datetime) -> None:
        """What a schedule would start at `at`, under the id it would give it."""
        self.started.append(
            await self._ctx.client.start_workflow(
                run,
                inp,
                id=f"{schedule_id}-{at:%Y-%m-%dT%H:%M:%SZ}",
                task_queue=self._ctx.task_queue,
            )
        )

    async def kpi_run(self, at: datetime) -> None:
        await self.scheduled(
            KpiReportWorkflow.run, KpiReportInput(policy=self._ctx.policy), KPI_REPORT, at
        )

    async def tier_review(self, at: datetime) -> None:
        await self.scheduled(
            TierReviewWorkflow.run, TierReviewInput(policy=self._ctx.policy), TIER_REVIEW, at
        )


def _target(step: Step) -> str:
    if step.target is not None:
        return step.target
    return str(step.body.get("complaint_id" if step.noun == "complaint" else "client_id"))


def agenda(
    plan: YearPlan, driver: YearDriver, staff: Staff, analyst: Analyst, policy: Policy
) -> list[tuple[datetime, str, Action]]:
    """Everything the year holds, by simulated instant.

    Each command keeps its own instant, to the microsecond: batching them would put a command
    on the very instant a timer it set earlier fires (a survey reminder three days after a
    resolution, say), and the time-skipping server mishandles an update that arrives while the
    workflow task of a timer fired at that same instant is in flight (it answers the worker
    "invalid history builder state for action" and the update never completes). For the same
    reason the advisors' morning round starts at a different second each day."""
    zone = policy.zone()
    items: list[tuple[datetime, str, Action]] = [
        (max(s.at, plan.start), f"{s.noun} {s.verb} {_target(s)}", partial(driver.step, s))
        for s in plan.sorted_steps()
    ]
    seconds = random.Random(len(plan.steps))
    day = plan.start
    while day < plan.end:
        local = day.astimezone(zone)
        if local.weekday() < 5:
            morning = datetime.combine(local.date(), datetime.min.time(), zone) + MORNING
            morning += timedelta(seconds=seconds.uniform(0, 1800))
            items.append((morning, "advisors' round", partial(staff.morning, morning)))
            items.append((morning, "measures follow-up", partial(analyst.follow_up, morning)))
        day += timedelta(days=1)
    for at in month_starts(plan.start - timedelta(days=1), plan.end + timedelta(hours=4), zone, 3):
        items.append((at, "KPI run", partial(driver.kpi_run, at)))
    for at in month_starts(plan.start, plan.end, zone, 2):
        if at.month in REVIEW_MONTHS:
            items.append((at, "tier review", partial(driver.tier_review, at)))
    for months in ANALYSIS_MONTHS:
        at = add_months(plan.year_start, months) + ANALYSIS_AT
        items.append((at, "complaint analysis", partial(analyst.review, at)))
    return sorted(items, key=lambda item: item[0])


async def simulate_year(
    engine: Engine,
    keyring: KeyRing,
    policy: Policy,
    out_dir: Path,
    size: DemoSize = YEAR_SIZE,
    seed: int = 2026,
) -> YearResult:
    """Runs the year into `engine`'s database and writes its histories to `out_dir/histories`."""
    began = time.monotonic()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        test_server_existing_path=temporal_test_server(),
    )
    try:
        await register_search_attributes(env.client, search_attributes.ALL)
        noted = StartedWorkflows()
        config = env.client.config()
        config["interceptors"] = [*config["interceptors"], noted]
        client = Client(**config)
        # The server's clock starts at the wall clock: that is "now" for the plan, and the
        # only place the real date enters the simulation.
        now = await env.get_current_time()
        plan = plan_year(now, policy.zone(), size.clients, size.complaints, seed)
        await sleep_until(env, plan.start)
        period = ReportingPeriod.parse(str(plan.year), policy.zone())
        result = YearResult(period=period)
        ctx = CommandContext(client=client, policy=policy, task_queue=TASK_QUEUE, engine=engine)
        staff = Staff(ctx, engine, plan, seed + 1)
        driver = YearDriver(ctx, plan, staff, result)
        analyst = Analyst(engine, plan, seed + 2)
        from worker import build_worker

        deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
        with ThreadPoolExecutor(max_workers=16) as pool:
            async with build_worker(client, TASK_QUEUE, deps, pool):
                days_done = 0
                days = (plan.end - plan.start).days
                with progress_bar("simulating 13 months (days)", total=days) as advance:
                    for at, label, action in agenda(plan, driver, staff, analyst, policy):
                        await sleep_until(env, at)
                        await _within(action, label, at)
                        day = (at - plan.start).days
                        if day > days_done:
                            advance(day - days_done)
                            days_done = day
                    # Waiting for a result lets the clock run on; the last sleep comes after.
                    for handle in driver.started:
                        await handle.result()
                    await sleep_until(env, plan.end + timedelta(hours=6))
                    advance(max(0, days - days_done))
                await settle(client, noted.ids)
                workflow_ids = await with_children(client, noted.ids)
                await settle(client, workflow_ids)
        # Only once the worker has stopped: a workflow task still in flight would otherwise
        # finish, and its activities write rows, after its history was saved.
        result.staff = staff.outcomes
        result.staff["improvement measures recorded"] = analyst.recorded
        result.staff["improvement measures done"] = analyst.finished
        with progress_bar("saving the year's histories", total=len(workflow_ids)) as advance:
            result.runs_exported = await export_all(
                client, workflow_ids, out_dir / "histories", advance
            )
    finally:
        await env.shutdown()
    result.wall_seconds = time.monotonic() - began
    return result
