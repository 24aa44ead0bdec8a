"""Demo data through the real commands and workflows: clients of every tier, complaints in every
stage. Synthetic people only (example.com mail, numbers from a seeded generator).

Deterministic: the same seed gives the same clients and complaints, and a second load finds them
already there (onboarding is update-with-start; an existing complaint is left as it is).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from temporalio.client import Client

from commands import clients, complaints
from commands.base import CommandContext, CommandError
from domain.questionnaire import questionnaire_json
from infra.concurrency import gather_bounded
from infra.progress import progress_bar

SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu"]
GIVEN = ["Wei", "Fang", "Min", "Jing", "Lei", "Jun", "Yan", "Tao", "Ming", "Hui", "Xin", "Ping"]
ADVISORS = [f"adv-{n:02d}" for n in range(1, 13)]
DEPARTMENTS = ["wealth-ops", "product", "compliance", "branch-service", "it-operations"]
# (tier, aum, annual contribution, transactions in 12 months, share of clients)
TIER_FIGURES = [
    ("diamond", 15_000_000, 160_000, 18, 0.10),
    ("platinum", 4_500_000, 45_000, 8, 0.20),
    ("gold", 900_000, 9_000, 3, 0.30),
    ("regular", 120_000, 800, 1, 0.40),
]
# Where the demo leaves each complaint: the share of complaints and the steps it takes.
STAGE_PLAN = [
    ("assessment", 0.15),
    ("investigation", 0.20),
    ("resolution", 0.10),
    ("follow_up", 0.10),
    ("closed", 0.30),
    ("reopened", 0.08),
    ("withdrawn", 0.07),
]
# Decisions on these grant the client money back (the rest explain or apologise).
REDRESSED = frozenset({"fees", "transaction_processing", "suitability"})
# Complaints every load has, whatever the seed, so each of the README's saved searches finds
# something: by complaint number, (where it is left, days since receipt, department, severity).
# 1 is reopened twice (`ReopenCount > 1`); 2 sits in investigation past its 15-day deadline
# (breached, and in the department the README's department search names).
SHOWCASE: dict[int, tuple[str, int, str, str]] = {
    1: ("reopened_twice", 5, "compliance", "medium"),
    2: ("investigation", 20, "wealth-ops", "critical"),
}
# Client 1 is a diamond client brought over from the firm's earlier system owing a callback
# since this many days before the load: overdue at once (past the P7D grace), so the README's
# diamond search and the worklist's "Overdue, diamond" link find it on a fresh demo. (A client
# onboarded here owes nothing before its first slot, a month and a grace after the load.)
OVERDUE_DIAMOND = 1
OWED_DAYS_AGO = 20
CONTENT = {
    "fees": "Management fee charged above the rate in the product documents",
    "product_performance": "Fund return far below what the advisor projected",
    "suitability": "Sold a high-risk product although my risk assessment was conservative",
    "disclosure": "Lock-up period was not explained before purchase",
    "service_attitude": "Branch staff were dismissive when I asked about redemption",
    "transaction_processing": "Redemption was settled three days late",
    "privacy": "Received marketing calls from a third party after opening the account",
    "other": "Statement delivery stopped without notice",
}
ROOT_CAUSES = {
    "fees": "pricing_error",
    "product_performance": "market_movement",
    "suitability": "sales_practice",
    "disclosure": "disclosure_gap",
    "service_attitude": "staff_conduct",
    "transaction_processing": "system_failure",
    "privacy": "data_handling",
    "other": "process_gap",
}


@dataclass(frozen=True)
class DemoSize:
    clients: int
    complaints: int


FULL = DemoSize(clients=240, complaints=200)
SMALL = DemoSize(clients=24, complaints=16)


def _weighted(rng: random.Random, table: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def client_body(
    n: int, rng: random.Random, option_counts: list[int], prefix: str = "demo-c"
) -> dict[str, Any]:
    _tier, aum, contribution, trades, _ = _weighted(rng, TIER_FIGURES)
    kind = rng.choices(["individual", "enterprise", "institution"], [0.8, 0.12, 0.08])[0]
    spread = rng.uniform(1.0, 1.4)
    birth = date(rng.randint(1950, 1998), rng.randint(1, 12), rng.randint(1, 28))
    if n % 40 == 7:
        birth = date(1984, 2, 29)  # leap-day birthdays are greeted on 28 February
    granted: dict[str, list[str]] = {"sms": ["service", "care", "events", "complaint"]}
    if rng.random() < 0.6:
        granted["email"] = ["service", "care", "complaint"]
    body: dict[str, Any] = {
        "client_id": f"{prefix}-{n:04d}",
        "kind": kind,
        "basic": {
            "name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}{rng.choice(GIVEN).lower()}",
            "gender": rng.choice(["male", "female"]),
            "birth_date": birth.isoformat(),
            "phone": f"139{rng.randint(10_000_000, 99_999_999)}",
            "email": f"{prefix.replace('-c', '.client')}{n:04d}@example.com",
        },
        "financial": {
            "assets": [
                {"asset_class": "funds", "amount": str(round(aum * spread * 0.6))},
                {"asset_class": "deposits", "amount": str(round(aum * spread * 0.4))},
            ],
        },
        "metrics": {
            "aum": str(round(aum * spread)),
            "annual_contribution": str(round(contribution * spread)),
            "transactions_12m": trades + rng.randint(0, 3),
        },
        "advisor_id": rng.choice(ADVISORS),
        "consents": {"granted": granted, "do_not_contact": n % 25 == 0},
    }
    if n % 10 != 3:  # one client in ten has not taken the questionnaire yet
        body["risk_answers"] = [rng.randrange(count) for count in option_counts]
    return body


def complaint_steps(
    n: int, rng: random.Random, client_ids: list[str], now: datetime
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    category = rng.choice(list(CONTENT))
    target = _weighted(rng, STAGE_PLAN)[0]
    days_ago = rng.choice([1, 2, 3, 5, 8, 12]) if target != "closed" else rng.randint(1, 12)
    if n % 9 == 0 and target in ("investigation", "resolution"):
        days_ago = rng.randint(16, 40)  # past the 15-day deadline: breached and escalated
    department = rng.choice(DEPARTMENTS)
    severity = rng.choices(["low", "medium", "high", "critical"], [3, 5, 2, 1])[0]
    if n in SHOWCASE:
        target, days_ago, department, severity = SHOWCASE[n]
    received = now - timedelta(days=days_ago, hours=rng.randint(0, 9))
    handler = f"staff-{rng.randint(10, 40)}"
    opening = {
        "complaint_id": f"demo-p-{n:04d}",
        "client_id": rng.choice(client_ids),
        "channel": rng.choice(["hotline", "email", "online", "branch"]),
        "content": CONTENT[category],
        "complainant": {"name": "Demo Complainant", "phone": "13900000000"},
        "received_at": received.isoformat(),
    }
    assess = {
        "category": category,
        "severity": severity,
        "department": department,
        "handler": handler,
        "complex": rng.random() < 0.15,
    }
    investigate = {
        "findings": "Records reviewed with the department",
        "evidence": ["statement", "call recording"],
        "root_cause": ROOT_CAUSES[category],
        "done": True,
    }
    resolve = {
        "measures": "Refund the difference and correct the records",
        "owner": handler,
        "due": (now + timedelta(days=7)).date().isoformat(),
    }
    if category in REDRESSED:  # so the regulator return has compensation to total
        resolve["compensation"] = f"{150 + 35 * n}.00"
    happy = {"satisfaction": rng.choice([4, 5]), "comment": "Resolved"}
    unhappy = {"satisfaction": 2, "comment": "Not enough"}
    order = ["assessment", "investigation", "resolution", "follow_up", "closed"]
    full: list[tuple[str, dict[str, Any]]] = [
        ("assess", assess),
        ("investigate", investigate),
        ("resolve", resolve),
    ]
    steps: list[tuple[str, dict[str, Any]]]
    if target == "withdrawn":
        steps = [*full[: rng.randint(0, 2)], ("withdraw", {"reason": "settled with the branch"})]
    elif target in ("reopened", "reopened_twice"):
        again = [("follow-up", unhappy), ("investigate", investigate), ("resolve", resolve)]
        times = 2 if target == "reopened_twice" else 1
        steps = [*full, *again * times, ("follow-up", happy)]
    else:
        steps = [*full, ("follow-up", happy)][: order.index(target)]
    return opening, steps


def _showcase_overdue_diamond(body: dict[str, Any], now: datetime) -> None:
    """Diamond figures (after the random draws, so every other client is as the seed makes it,
    and the simulated year's clients, drawn by `client_body` too, are untouched) and a callback
    owed since `OWED_DAYS_AGO` days."""
    _tier, aum, contribution, trades, _ = TIER_FIGURES[0]
    body["financial"] = {
        "assets": [
            {"asset_class": "funds", "amount": str(round(aum * 0.6))},
            {"asset_class": "deposits", "amount": str(round(aum * 0.4))},
        ],
    }
    body["metrics"] = {
        "aum": str(aum),
        "annual_contribution": str(contribution),
        "transactions_12m": trades,
    }
    owed = now - timedelta(days=OWED_DAYS_AGO)
    body["owed_duties"] = [{"kind": "callback", "due_at": owed.isoformat()}]


async def _bounded(jobs: list[Callable[[], Awaitable[object]]], title: str, limit: int) -> int:
    """Runs the jobs, `limit` at a time, with progress; returns how many were refused."""
    with progress_bar(title, total=len(jobs)) as advance:

        async def one(job: Callable[[], Awaitable[object]]) -> bool:
            try:
                await job()
                return False
            except CommandError:
                return True
            finally:
                advance()

        refused = await gather_bounded(jobs, one, limit)
    return sum(refused)


async def load_demo(ctx: CommandContext, size: DemoSize = FULL, seed: int = 2026) -> dict[str, int]:
    rng = random.Random(seed)
    counts = [len(q["options"]) for q in questionnaire_json()["questions"]]
    bodies = [client_body(n, rng, counts) for n in range(1, size.clients + 1)]
    _showcase_overdue_diamond(bodies[OVERDUE_DIAMOND - 1], datetime.now(UTC))
    client_jobs: list[Callable[[], Awaitable[object]]] = [
        partial(clients.onboard, ctx, None, b) for b in bodies
    ]
    failed_clients = await _bounded(client_jobs, "onboarding demo clients", 16)

    now = datetime.now(UTC)
    ids = [b["client_id"] for b in bodies]
    plans = [complaint_steps(n, rng, ids, now) for n in range(1, size.complaints + 1)]

    async def drive(opening: dict[str, Any], steps: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            await complaints.COMMANDS["show"](ctx, opening["complaint_id"], {})
            return  # loaded by an earlier run
        except CommandError as err:
            if err.code != "not_found":
                raise
        await complaints.COMMANDS["open"](ctx, None, opening)
        for verb, body in steps:
            await complaints.COMMANDS[verb](ctx, opening["complaint_id"], body)

    complaint_jobs: list[Callable[[], Awaitable[object]]] = [partial(drive, o, s) for o, s in plans]
    failed_complaints = await _bounded(complaint_jobs, "driving demo complaints", 8)
    return {
        "clients": size.clients - failed_clients,
        "complaints": size.complaints - failed_complaints,
        "refused": failed_clients + failed_complaints,
    }


def load_demo_sync(settings: Any, *, small: bool = False) -> dict[str, int]:
    """For the dev stack: connect with the stack's settings and load."""
    from infra.policy_file import policy_from_settings
    from infra.temporal import connect

    async def go() -> dict[str, int]:
        client: Client = await connect(settings)
        ctx = CommandContext(
            client=client,
            policy=policy_from_settings(settings),
            task_queue=settings.temporal_task_queue,
            complaint_task_queue=settings.temporal_complaint_task_queue,
        )
        return await load_demo(ctx, SMALL if small else FULL)

    return asyncio.run(go())


def sizes(body: dict[str, Any], default: DemoSize, most: int, what: str) -> tuple[DemoSize, int]:
    """(size, seed) from a demo command's body, or a refusal saying what is allowed."""
    try:
        size = DemoSize(
            clients=int(body.get("clients", default.clients)),
            complaints=int(body.get("complaints", default.complaints)),
        )
        seed = int(body.get("seed", 2026))
    except (TypeError, ValueError, OverflowError) as err:
        raise CommandError(f"{what}: counts and seed must be integers ({err})", "invalid") from None
    if not (1 <= size.clients <= most and 0 <= size.complaints <= most):
        raise CommandError(f"{what}: clients 1..{most}, complaints 0..{most}", "invalid")
    return size, seed


async def load(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """`starter.py demo load [--json '{"clients": 240, "complaints": 200, "seed": 2026}']`."""
    size, seed = sizes(body, FULL, 100_000, "demo load")
    return await load_demo(ctx, size, seed)
