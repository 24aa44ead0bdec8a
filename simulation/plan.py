"""The year's script, drawn once from a seed: who is onboarded when, which complaints arrive
when and how the staff handle them, how client figures move month by month.

Pure: no servers, no clock. The same seed, start and sizes give the same script, so a year can
be re-run and compared. The shapes (busy Monday mornings, faster handling once improvement
measures land) are the simulation's assumptions, stated here, not findings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from commands.demo import ADVISORS, CONTENT, DEPARTMENTS, ROOT_CAUSES, client_body
from domain.questionnaire import questionnaire_json

# Relative weights of complaint arrivals by local weekday (Monday first) and hour.
WEEKDAY_WEIGHTS = [1.4, 1.2, 1.1, 1.0, 1.0, 0.5, 0.4]
HOUR_WEIGHTS = {h: 0.2 for h in range(24)} | {
    **dict.fromkeys(range(8, 12), 1.6),
    **dict.fromkeys(range(12, 14), 0.8),
    **dict.fromkeys(range(14, 18), 1.3),
    **dict.fromkeys(range(18, 22), 0.6),
}
CHANNELS = {"hotline": 0.4, "online": 0.25, "email": 0.15, "branch": 0.2}


@dataclass(frozen=True)
class Step:
    """One command at one simulated instant: `noun verb id --json body`."""

    at: datetime
    noun: str  # "client" or "complaint"
    verb: str
    target: str | None
    body: dict[str, Any]


@dataclass
class YearPlan:
    year: int
    """The calendar year simulated: the report's period, labelled e.g. "2028"."""
    start: datetime
    """The opening month's first instant, 1 December of the year before: the book of clients is
    onboarded in its first fortnight, so the year itself starts with clients, figures and a KPI
    snapshot to compare."""
    year_start: datetime
    """1 January, local: the simulated year is [year_start, end)."""
    end: datetime
    steps: list[Step] = field(default_factory=list)
    onboarded: dict[str, datetime] = field(default_factory=dict)
    complainants: set[str] = field(default_factory=set)
    diligence: dict[str, float] = field(default_factory=dict)
    """Per advisor: the chance a due callback is made at all (the rest go overdue)."""

    def sorted_steps(self) -> list[Step]:
        return sorted(self.steps, key=lambda s: (s.at, s.noun, s.target or "", s.verb))


def progress(plan: YearPlan, at: datetime) -> float:
    """0 at the start of the year, 1 at its end: how far the improvement measures have got."""
    return min(1.0, max(0.0, (at - plan.year_start) / (plan.end - plan.year_start)))


def _local(start: datetime, zone: ZoneInfo, day: int, hour: float) -> datetime:
    local_day = start.astimezone(zone).date() + timedelta(days=day)
    return datetime.combine(local_day, time(), zone) + timedelta(hours=hour)


def _working_day(start: datetime, zone: ZoneInfo, rng: random.Random, within: int) -> int:
    while True:
        day = rng.randrange(within)
        if (start.astimezone(zone).date() + timedelta(days=day)).weekday() < 5:
            return day


def _arrival(plan: YearPlan, zone: ZoneInfo, rng: random.Random) -> datetime:
    start = plan.year_start
    days = list(range((plan.end - start).days))
    first = start.astimezone(zone).date()
    weights = [WEEKDAY_WEIGHTS[(first + timedelta(days=d)).weekday()] for d in days]
    day = rng.choices(days, weights)[0]
    hour = rng.choices(list(HOUR_WEIGHTS), list(HOUR_WEIGHTS.values()))[0]
    return _local(start, zone, day, hour + rng.random())


def _later(at: datetime, rng: random.Random, low: float, high: float) -> datetime:
    return at + timedelta(days=rng.uniform(low, high))


def plan_clients(plan: YearPlan, rng: random.Random, zone: ZoneInfo, count: int) -> None:
    """Four in five onboarded in the first fortnight, the rest through the year; a few leave."""
    counts = [len(q["options"]) for q in questionnaire_json()["questions"]]
    for n in range(1, count + 1):
        body = client_body(n, rng, counts, prefix="year-c")
        early = n <= count * 4 // 5
        first = plan.start if early else plan.year_start
        day = _working_day(first, zone, rng, 14 if early else 330)
        at = max(first + timedelta(minutes=1), _local(first, zone, day, 9 + rng.random() * 8))
        plan.onboarded[body["client_id"]] = at
        plan.steps.append(Step(at, "client", "onboard", None, body))
        until = plan.end
        if rng.random() < 0.05 and (left := _later(at, rng, 60, 330)) < plan.end:
            until = left
            reason = {"reason": "moved to another firm"}
            plan.steps.append(Step(until, "client", "offboard", body["client_id"], reason))
        plan_figures(plan, rng, body, at, until)


def plan_figures(
    plan: YearPlan, rng: random.Random, body: dict[str, Any], since: datetime, until: datetime
) -> None:
    """Monthly figures: steady growth with noise, and now and then a large inflow or outflow,
    which is what moves a client across a tier line at the next review."""
    aum = Decimal(body["metrics"]["aum"])
    contribution = Decimal(body["metrics"]["annual_contribution"])
    trades = int(body["metrics"]["transactions_12m"])
    at = since
    while (at := at + timedelta(days=30 + rng.uniform(-3, 3))) < until:
        jump = rng.random()
        factor = 1.8 if jump < 0.02 else 0.55 if jump < 0.035 else 1 + rng.gauss(0.008, 0.03)
        aum = (aum * Decimal(str(round(factor, 4)))).quantize(Decimal(1))
        contribution = (contribution * Decimal(str(round(max(factor, 0.5), 4)))).quantize(
            Decimal(1)
        )
        trades = max(0, trades + rng.choice([-1, 0, 0, 1]) + (6 if jump < 0.02 else 0))
        metrics = {
            "aum": str(aum),
            "annual_contribution": str(contribution),
            "transactions_12m": trades,
        }
        plan.steps.append(Step(at, "client", "update", body["client_id"], {"metrics": metrics}))


REPEAT_SHARE = 0.12  # of complaints, from a client who has complained before


def _complainant(plan: YearPlan, rng: random.Random, received: datetime) -> str:
    """Mostly a client who has not complained yet; now and then one who has (a repeat)."""
    served = [c for c, at in plan.onboarded.items() if at < received - timedelta(days=1)]
    before = [c for c in served if c in plan.complainants]
    fresh = [c for c in served if c not in plan.complainants]
    pool = before if (rng.random() < REPEAT_SHARE and before) or not fresh else fresh
    chosen = rng.choice(pool or list(plan.onboarded)[:1])
    plan.complainants.add(chosen)
    return chosen


def plan_complaint(plan: YearPlan, rng: random.Random, zone: ZoneInfo, n: int) -> None:
    """Intake, assessment, investigation, resolution, follow-up: each at its simulated time.
    Early in the year investigations drag (breaches, escalations); they speed up as the
    improvement measures land. Steps that would fall after the year are not taken: those
    complaints stay open where the year leaves them."""
    received = _arrival(plan, zone, rng)
    cid = f"year-p-{n:04d}"
    category = rng.choice(list(CONTENT))
    handler = f"staff-{rng.randint(10, 40)}"
    steps: list[Step] = [
        Step(
            received,
            "complaint",
            "open",
            None,
            {
                "complaint_id": cid,
                "client_id": _complainant(plan, rng, received),
                "channel": rng.choices(list(CHANNELS), list(CHANNELS.values()))[0],
                "content": CONTENT[category],
                "complainant": {"name": "Simulated Complainant", "phone": "13900000000"},
            },
        )
    ]
    complex_ = rng.random() < 0.15
    at = _later(received, rng, 0.05, 1.5)
    steps.append(
        Step(
            at,
            "complaint",
            "assess",
            cid,
            {
                "category": category,
                "severity": rng.choices(["low", "medium", "high", "critical"], [3, 5, 2, 1])[0],
                "department": rng.choice(DEPARTMENTS),
                "handler": handler,
                "complex": complex_,
            },
        )
    )
    if rng.random() < 0.06:
        steps.append(
            Step(
                _later(at, rng, 0.5, 4),
                "complaint",
                "withdraw",
                cid,
                {"reason": "settled with the branch"},
            )
        )
        plan.steps += [s for s in steps if s.at < plan.end]
        return
    early = 1 - progress(plan, received)
    rounds = 1 + (rng.random() < 0.12 + 0.1 * early) + (rng.random() < 0.04)
    for round_ in range(rounds):
        slow = (4 + 14 * early) * (2.2 if complex_ else 1)
        at = _later(at, rng, 1, 2 + slow) if round_ == 0 else _later(at, rng, 2, 6)
        asked = received + timedelta(days=25)  # within the complex decision period
        if complex_ and round_ == 0 and at > asked:
            why = {"reason": "needs records from the custodian", "approved_by": "sup-01"}
            steps.append(Step(asked, "complaint", "extend", cid, why))
        steps.append(
            Step(
                at,
                "complaint",
                "investigate",
                cid,
                {
                    "findings": "Records reviewed with the department",
                    "evidence": ["statement", "call recording"],
                    "root_cause": ROOT_CAUSES[category],
                    "done": True,
                },
            )
        )
        at = _later(at, rng, 0.2, 2)
        due = (at.astimezone(zone) + timedelta(days=14)).date()
        steps.append(
            Step(
                at,
                "complaint",
                "resolve",
                cid,
                {
                    "measures": "Refund the difference and correct the records",
                    "owner": handler,
                    "due": due.isoformat(),
                },
            )
        )
        at = _later(at, rng, 1, 8)
        last = round_ == rounds - 1
        if not last:
            steps.append(
                Step(
                    at,
                    "complaint",
                    "follow-up",
                    cid,
                    {"satisfaction": rng.choice([1, 2, 3]), "comment": "Not enough"},
                )
            )
        elif rng.random() < 0.9:  # the rest never answer the survey: it times out
            happy = rng.choices([5, 4], [3 + 4 * (1 - early), 4])[0]
            answer = {"satisfaction": happy, "comment": "Resolved"}
            steps.append(Step(at, "complaint", "follow-up", cid, answer))
    plan.steps += [s for s in steps if s.at < plan.end]


def simulated_year(now: datetime, zone: ZoneInfo) -> int:
    """The first calendar year whose opening month (the December before it) lies wholly ahead
    of `now`: a time-skipping server can only move forward, so a December already begun is too
    late to open the year after it. Run on 2026-11-30 this is 2027; on 2026-12-01, 2028."""
    local = now.astimezone(zone)
    year = local.year + 1
    if datetime(local.year, 12, 1, tzinfo=zone) < now:
        year += 1
    return year


def plan_year(now: datetime, zone: ZoneInfo, clients: int, complaints: int, seed: int) -> YearPlan:
    """The script of `simulated_year(now)`: the same seed and sizes give the same script for
    every `now` that falls before the same opening month."""
    rng = random.Random(seed)
    year = simulated_year(now, zone)
    year_start = datetime(year, 1, 1, tzinfo=zone)
    plan = YearPlan(
        year=year,
        start=datetime(year - 1, 12, 1, tzinfo=zone),
        year_start=year_start,
        end=datetime(year + 1, 1, 1, tzinfo=zone),
    )
    plan.diligence = {a: round(rng.uniform(0.6, 0.97), 2) for a in ADVISORS}
    plan_clients(plan, rng, zone, clients)
    for n in range(1, complaints + 1):
        plan_complaint(plan, rng, zone, n)
    return plan


def month_starts(start: datetime, end: datetime, zone: ZoneInfo, hour: int) -> list[datetime]:
    """Local `hour` on the first of every month after `start`, before `end`."""
    local = start.astimezone(zone).date().replace(day=1)
    out: list[datetime] = []
    while True:
        local = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        at = datetime.combine(local, time(hour), zone)
        if at >= end:
            return out
        out.append(at)
