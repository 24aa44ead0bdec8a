"""The regulator's return, from a hand-worked quarter of projection rows (Q1 2026, Shanghai).

Complaints (r5 is not reportable: withdrawn before anyone assessed it):
  r1 hotline fees/pricing_error wealth-ops, 5 Jan, decided in 10 days, satisfaction 5,
     compensation 1 200.50
  r2 email fees/pricing_error compliance, 1 Feb, extended, decided in 20 days after a reopen,
     satisfaction 2; compensation 300 at the first decision, 500.00 at the latest
  r3 online suitability wealth-ops, 1 Mar, past its deadline, decided on 3 April (after Q1)
  r4 branch service_attitude compliance, 10 Mar, withdrawn on 12 Mar
  r5 hotline, no category, 20 Mar, withdrawn the same day
  r6 hotline disclosure wealth-ops, 20 Dec 2025 (before Q1), extended and late, decided on
     25 Jan after 36 days, satisfaction 4, no compensation
  r7 email privacy it-operations, 1 Jan 05:00 (Q1 in Shanghai, still 2025 in UTC), open
  r8 online fees, 2 April (after Q1)
  r9 hotline product_performance wealth-ops, 10 Jan, decided after exactly 15 days,
     satisfaction 4, compensation 0 (none paid)

Worked out, firm: received r1 r2 r3 r4 r7 r9 = 6; closed (decided in Q1) r1 r2 r6 r9 = 4,
within 15 days r1 r9 = 2, within 30 r1 r2 r9 = 3; extended r2 = 1 (r6 was received before Q1);
overdue r3 = 1; withdrawn r4 = 1; rated r1 r2 r6 r9 = 4, satisfied (4 or 5) r1 r6 r9 = 3, mean
(5 + 2 + 4 + 4) / 4 = 3.75; compensated r1 r2 = 2, total 1 200.50 + 500.00 = 1 700.50.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, insert

from commands.base import CommandContext, CommandError
from commands.report import regulator
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from domain.regulatory import RegulatoryCategory, regulatory_category, reportable
from projections.tables import complaint_events, complaints
from reports.build import build_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = Policy()
Q1 = ReportingPeriod.parse("2026-Q1", POLICY.zone())
HEADER = [
    "dimension", "value", "received", "closed", "closed_within_15d", "closed_within_30d",
    "extended", "overdue", "withdrawn", "rated", "satisfied", "satisfaction_mean", "compensated",
    "compensation_total",
]  # fmt: skip


def at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def _complaint(kid: str, channel: str, received: datetime, stage: str, **kw: Any) -> dict[str, Any]:
    return {
        "complaint_id": kid, "workflow_id": f"complaint-{kid}", "seq": 9, "client_id": "c1",
        "channel": channel, "stage": stage, "received_at": received, "updated_at": received,
        "category": None, "root_cause": None, "department": None, "resolved_at": None,
        "closed_at": None, "satisfaction": None, "sla_breached": False, "extensions": 0, **kw,
    }  # fmt: skip


def _resolved(kid: str, seq: int, on: datetime, compensation: str | None) -> dict[str, Any]:
    data = {"owner": "s-1", "due": "2026-06-30"}
    if compensation is not None:
        data["compensation"] = compensation
    return {
        "workflow_id": f"complaint-{kid}", "seq": seq, "complaint_id": kid, "kind": "resolved",
        "stage_from": "resolution", "stage_to": "follow_up", "actor": "s-1", "at": on,
        "data": data,
    }  # fmt: skip


COMPLAINTS = [
    _complaint("r1", "hotline", at(1, 5), "closed", category="fees", root_cause="pricing_error",
               department="wealth-ops", resolved_at=at(1, 15), closed_at=at(1, 20),
               satisfaction=5),
    _complaint("r2", "email", at(2, 1), "closed", category="fees", root_cause="pricing_error",
               department="compliance", resolved_at=at(2, 21), closed_at=at(2, 25),
               satisfaction=2, extensions=1),
    _complaint("r3", "online", at(3, 1), "follow_up", category="suitability",
               root_cause="sales_practice", department="wealth-ops", resolved_at=at(4, 3),
               sla_breached=True),
    _complaint("r4", "branch", at(3, 10), "withdrawn", category="service_attitude",
               department="compliance", closed_at=at(3, 12)),
    _complaint("r5", "hotline", at(3, 20), "withdrawn", closed_at=at(3, 20, 11)),
    _complaint("r6", "hotline", at(12, 20, year=2025), "closed", category="disclosure",
               root_cause="disclosure_gap", department="wealth-ops", resolved_at=at(1, 25),
               closed_at=at(1, 28), satisfaction=4, extensions=1, sla_breached=True),
    _complaint("r7", "email", at(1, 1, 5), "investigation", category="privacy",
               root_cause="data_handling", department="it-operations"),
    _complaint("r8", "online", at(4, 2), "assessment", category="fees"),
    _complaint("r9", "hotline", at(1, 10), "closed", category="product_performance",
               root_cause="market_movement", department="wealth-ops",
               resolved_at=at(1, 10) + timedelta(days=15), closed_at=at(1, 27), satisfaction=4),
]  # fmt: skip
EVENTS = [
    _resolved("r1", 5, at(1, 15), "1200.50"),
    _resolved("r2", 4, at(2, 10), "300"),
    _resolved("r2", 8, at(2, 21), "500.00"),
    _resolved("r3", 5, at(4, 3), None),
    _resolved("r6", 6, at(1, 25), None),
    _resolved("r9", 5, at(1, 25), "0"),
]

FIRM = ["all", "all", "6", "4", "2", "3", "1", "1", "1", "4", "3", "3.75", "2", "1700.50"]
BY_CATEGORY = [
    ["regulatory_category", "fees_and_charges", "2", "2", "1", "2", "1", "0", "0", "2", "1",
     "3.5", "2", "1700.50"],
    ["regulatory_category", "information_disclosure", "0", "1", "0", "0", "0", "0", "0", "1", "1",
     "4.0", "0", "0.00"],
    ["regulatory_category", "personal_information", "1", "0", "0", "0", "0", "0", "0", "0", "0",
     "", "0", "0.00"],
    ["regulatory_category", "product_returns", "1", "1", "1", "1", "0", "0", "0", "1", "1", "4.0",
     "0", "0.00"],
    ["regulatory_category", "sales_suitability", "1", "0", "0", "0", "0", "1", "0", "0", "0", "",
     "0", "0.00"],
    ["regulatory_category", "service_quality", "1", "0", "0", "0", "0", "0", "1", "0", "0", "",
     "0", "0.00"],
]  # fmt: skip
# hotline: received r1 r9, decided r1 r6 r9 (r6 after 36 days), mean (5 + 4 + 4) / 3
HOTLINE = ["channel", "hotline", "2", "3", "2", "2", "0", "0", "0", "3", "3", "4.33", "1",
           "1200.50"]  # fmt: skip
# compliance: r2 (extended, decided in 20 days, compensated 500) and r4 (withdrawn)
COMPLIANCE = ["department", "compliance", "2", "1", "0", "1", "1", "0", "1", "1", "0", "2.0", "1",
              "500.00"]  # fmt: skip
# unknown cause: r4 only (r5 is not reportable, so it makes no line of its own)
UNKNOWN_CAUSE = ["root_cause", "unknown", "1", "0", "0", "0", "0", "0", "1", "0", "0", "", "0",
                 "0.00"]  # fmt: skip


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(complaints), COMPLAINTS)
        conn.execute(insert(complaint_events), EVENTS)


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@dataclass(frozen=True)
class EngineContext(CommandContext):
    engine: Engine | None = None


def test_each_category_maps_to_a_regulatory_one() -> None:
    assert regulatory_category("suitability") is RegulatoryCategory.SALES_SUITABILITY
    assert regulatory_category(None) is RegulatoryCategory.UNCLASSIFIED
    assert regulatory_category("a category of a later version") is RegulatoryCategory.UNCLASSIFIED
    assert reportable(None, "assessment") and reportable("fees", "withdrawn")
    assert not reportable(None, "withdrawn")


async def test_the_return_holds_the_hand_worked_figures(db: Engine, tmp_path: Path) -> None:
    seed(db)
    ctx = EngineContext(client=None, policy=POLICY, engine=db)  # type: ignore[arg-type]
    out = await regulator(ctx, None, {"period": "2026-Q1", "out_dir": str(tmp_path)})
    assert out["period"] == "2026-Q1"
    assert out["firm"] == {
        "received": 6, "closed": 4, "closed_within_15d": 2, "closed_within_30d": 3,
        "extended": 1, "overdue": 1, "withdrawn": 1, "rated": 4, "satisfied": 3,
        "satisfaction_mean": 3.75, "compensated": 2, "compensation_total": "1700.50",
    }  # fmt: skip
    rows = read(tmp_path / "regulator_return.csv")
    assert rows[0] == HEADER
    assert rows[1] == FIRM
    assert [r for r in rows if r[0] == "regulatory_category"] == BY_CATEGORY
    assert HOTLINE in rows and COMPLIANCE in rows and UNKNOWN_CAUSE in rows
    cases = {r[0]: r for r in read(tmp_path / "regulator_complaints.csv")[1:]}
    assert sorted(cases) == ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r9"]  # r8: after Q1
    assert (cases["r5"][1], cases["r5"][2]) == ("unclassified", "False")
    assert (cases["r2"][1], cases["r2"][2], cases["r2"][-1]) == (
        "fees_and_charges",
        "True",
        "500.00",
    )


async def test_a_month_and_a_bad_period(db: Engine, tmp_path: Path) -> None:
    seed(db)
    ctx = EngineContext(client=None, policy=POLICY, engine=db)  # type: ignore[arg-type]
    # March: received r3 r4; nothing decided in March (r3 is decided in April).
    out = await regulator(ctx, None, {"period": "2026-03", "out_dir": str(tmp_path)})
    firm = out["firm"]
    assert (firm["received"], firm["closed"], firm["overdue"], firm["withdrawn"]) == (2, 0, 1, 1)
    assert firm["satisfaction_mean"] is None and firm["compensation_total"] == "0.00"
    with pytest.raises(CommandError, match="2026-Q5"):
        await regulator(ctx, None, {"period": "2026-Q5"})


def test_the_report_has_a_regulator_section(db: Engine, tmp_path: Path) -> None:
    seed(db)
    files = build_report(db, Q1, tmp_path, POLICY, now=at(4, 10), language="en")
    assert read(tmp_path / "regulator_return.csv")[1] == FIRM
    assert {p.stem for p in files.csv} >= {"regulator_return", "regulator_complaints"}
    html = files.html.read_text(encoding="utf-8")
    section = html.split("<h2>Regulator return</h2>", 1)[1].split("</section>", 1)[0]
    assert 'data-table="regulator_return"' in section
    assert "1700.50" in section
    # one format per column: the means of 4 and 3.5 read 4.00 and 3.50 beside 3.75
    assert all(f"<td>{m}</td>" in section for m in ("3.75", "4.00", "3.50"))


async def test_the_database_out_of_reach_is_unavailable_not_a_traceback(tmp_path: Path) -> None:
    gone = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    ctx = EngineContext(client=None, policy=POLICY, engine=gone)  # type: ignore[arg-type]
    with pytest.raises(CommandError) as refused:
        await regulator(ctx, None, {"period": "2026-Q1", "out_dir": str(tmp_path)})
    assert refused.value.code == "unavailable"  # starter exits 3, as for Temporal
