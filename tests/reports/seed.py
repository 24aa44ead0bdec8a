"""A month of projection rows with figures worked out by hand (March 2026, Shanghai time).

Clients (AUM, CNY): c1 adv-a gold 600 000; c2 adv-a platinum 4 000 000, joined 5 March;
c3 adv-b regular 10 000; c4 adv-b diamond 12 000 000; c5 adv-b regular 50 000, left 20 March.

Callbacks (7-day grace): t1 c1 due 3, done 4, answers 5 / 10; t2 c4 due 6, done 8, 4 / 8;
t3 c3 due 9, never done; t4 c4 due 12, done 25 (late), 2 / 3; t5 c5 due 22, cancelled.

Complaints (15-day deadline): k1 c1 fees/pricing ops, decided in 6 days, met, satisfaction 4;
k2 c3 service/training ops, 20 days, late, satisfaction 2; k3 c4 fees/pricing it, undecided
and breached; k4 c3 service ops, undecided, due 4 April; k6 c2 fees, withdrawn;
k5 c1 in December 2025, which makes k1 a repeat.

Firm, worked out: callbacks 2 of 4 on time (0.5); CSAT 2 of 3 (4, 5 yes; 2 no); NPS
(1 promoter − 1 detractor) / 3 = 0; deadlines 1 of 3 (k1 met; k2 late; k3 breached open);
decided in 6 and 20 days: P50 6, P90 20; complaint satisfaction 1 of 2, mean 3; received 5,
repeats 2 (k1 after k5, k4 after k2): 0.4; clients 4 at start, 1 new, 4 at end: retention
0.75; AUM 12.5 M (February's snapshot) to 16.61 M with net new money 4 M − 0.05 M = 3.95 M,
market 0.16 M.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from projections.tables import (
    clients,
    complaints,
    improvement_measures,
    kpi_snapshots,
    service_tasks,
    tier_changes,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
Y = 2026  # a past March: the workflow judges open items up to its own (real) clock
MARCH_START = datetime(Y, 3, 1, tzinfo=SHANGHAI)
APRIL_START = datetime(Y, 4, 1, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = Y) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def _client(
    cid: str, advisor: str, tier: str, aum: int, joined: datetime, **kw: Any
) -> dict[str, Any]:
    return {
        "client_id": cid, "workflow_id": f"client-{cid}", "seq": 1, "kind": "individual",
        "tier": tier, "risk_profile": "balanced", "advisor_id": advisor, "status": "active",
        "aum": Decimal(aum), "onboarded_at": joined, "updated_at": joined, **kw,
    }  # fmt: skip


def _task(tid: str, cid: str, advisor: str, tier: str, due: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "task_id": tid, "workflow_id": f"client-{cid}", "seq": 2, "client_id": cid,
        "kind": "callback", "due_at": due, "status": "due", "advisor_id": advisor,
        "tier": tier, "updated_at": due, **kw,
    }  # fmt: skip


def _complaint(
    kid: str, cid: str, channel: str, received: datetime, stage: str, **kw: Any
) -> dict[str, Any]:
    return {
        "complaint_id": kid, "workflow_id": f"complaint-{kid}", "seq": 3, "client_id": cid,
        "channel": channel, "stage": stage, "received_at": received, "updated_at": received, **kw,
    }  # fmt: skip


CLIENTS = [
    _client("c1", "adv-a", "gold", 600_000, at(1, 10, year=Y - 1)),
    _client("c2", "adv-a", "platinum", 4_000_000, at(3, 5)),
    _client("c3", "adv-b", "regular", 10_000, at(6, 1, year=Y - 1)),
    _client("c4", "adv-b", "diamond", 12_000_000, at(1, 1, year=Y - 2)),
    _client("c5", "adv-b", "regular", 50_000, at(5, 1, year=Y - 2), status="closed",
            updated_at=at(3, 20)),
]  # fmt: skip

CALLBACKS = [
    _task("t1", "c1", "adv-a", "gold", at(3, 3), status="done", completed_at=at(3, 4),
          outcome={"satisfaction": 5, "recommend": 10}),
    _task("t2", "c4", "adv-b", "diamond", at(3, 6), status="done", completed_at=at(3, 8),
          outcome={"satisfaction": 4, "recommend": 8}),
    _task("t3", "c3", "adv-b", "regular", at(3, 9), status="overdue"),
    _task("t4", "c4", "adv-b", "diamond", at(3, 12), status="done", completed_at=at(3, 25),
          outcome={"satisfaction": 2, "recommend": 3}),
    _task("t5", "c5", "adv-b", "regular", at(3, 22), status="cancelled"),
    # Not a callback: a greeting must not count towards callback completion.
    {**_task("g1", "c1", "adv-a", "gold", at(3, 8)), "kind": "greeting"},
]  # fmt: skip

COMPLAINTS = [
    _complaint("k1", "c1", "hotline", at(3, 2, 9, 30), "closed", category="fees",
               root_cause="pricing", department="ops", resolved_at=at(3, 8, 9, 30),
               closed_at=at(3, 10), sla_deadline=at(3, 17, 9, 30), satisfaction=4),
    _complaint("k2", "c3", "email", at(3, 3, 14), "closed", category="service",
               root_cause="training", department="ops", resolved_at=at(3, 23, 14),
               closed_at=at(3, 25), sla_deadline=at(3, 18, 14), satisfaction=2,
               sla_breached=True),
    _complaint("k3", "c4", "online", at(3, 8, 9, 10), "investigation", category="fees",
               root_cause="pricing", department="it", sla_deadline=at(3, 23, 9, 10),
               sla_breached=True),
    _complaint("k4", "c3", "hotline", at(3, 20, 9, 45), "investigation", category="service",
               department="ops", sla_deadline=at(4, 4, 9, 45)),
    _complaint("k5", "c1", "branch", at(12, 1, year=Y - 1), "closed", category="product",
               root_cause="disclosure", department="it", resolved_at=at(12, 10, year=Y - 1),
               closed_at=at(12, 12, year=Y - 1), sla_deadline=at(12, 16, year=Y - 1)),
    _complaint("k6", "c2", "hotline", at(3, 15), "withdrawn", category="fees", department="ops",
               sla_deadline=at(3, 30)),
]  # fmt: skip

FEBRUARY_FIRM = {
    "period": f"{Y}-02", "scope": "firm", "scope_id": "firm",
    "period_start": datetime(Y, 2, 1, tzinfo=SHANGHAI), "period_end": MARCH_START,
    "metrics": {"aum_end": 12_500_000.0}, "computed_at": MARCH_START,
}  # fmt: skip

TIER_CHANGES = [
    {"client_id": "c2", "review_id": f"r-{Y}-03", "old_tier": "gold", "new_tier": "platinum",
     "reason": "aum grew", "figures": {}, "at": at(3, 10)},
    {"client_id": "c3", "review_id": f"r-{Y}-03", "old_tier": "gold", "new_tier": "regular",
     "reason": "below gold at 2 reviews", "figures": {}, "at": at(3, 10)},
    {"client_id": "c1", "review_id": f"r-{Y}-01", "old_tier": "regular", "new_tier": "gold",
     "reason": "aum grew", "figures": {}, "at": at(1, 10)},
]  # fmt: skip

MEASURES = [
    {"measure_id": "m1", "cause": "pricing", "category": "fees", "measure": "publish fee table",
     "owner": "ops-lead", "due": date(Y, 4, 30), "status": "open", "created_at": at(3, 12)},
    {"measure_id": "m2", "cause": "training", "category": "service", "measure": "refresher",
     "owner": "hr", "due": date(Y, 3, 20), "status": "done", "done_at": at(3, 19),
     "created_at": at(3, 5)},
]  # fmt: skip


def seed_march(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(clients), CLIENTS)
        conn.execute(
            insert(service_tasks), [{"outcome": None, "completed_at": None} | t for t in CALLBACKS]
        )
        conn.execute(
            insert(complaints),
            [
                {"category": None, "root_cause": None, "resolved_at": None, "closed_at": None,
                 "satisfaction": None, "sla_breached": False} | c
                for c in COMPLAINTS
            ],
        )  # fmt: skip
        conn.execute(insert(kpi_snapshots), [FEBRUARY_FIRM])
        conn.execute(insert(tier_changes), TIER_CHANGES)
        conn.execute(insert(improvement_measures), [{"done_at": None} | m for m in MEASURES])
