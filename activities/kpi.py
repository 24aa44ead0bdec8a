"""The KPI snapshot activity: read the period's facts, score every scope, replace the snapshot.

Not a registered projector: its rows come from other read models, not from its input alone, so
the auditor rebuilds them by running `KpiReportWorkflow` for the period again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, insert
from temporalio import activity

from activities.deps import ActivityDeps
from domain.appraisal import QualitativeInput
from domain.kpi_period import ReportingPeriod
from domain.kpi_scorecard import Scorecard, scorecards
from domain.policy import Policy
from projections.tables import kpi_snapshots
from reports.queries import load_facts, previous_aum

COMPUTE_KPI_SNAPSHOTS = "compute_kpi_snapshots"
# The firm-level figures a caller sees in the workflow result; the rest is in the table.
HEADLINE = (
    "csat", "nps", "callback_completion", "deadline_compliance", "complaint_satisfaction",
    "retention", "aum_growth", "repeat_complaints", "complaints_received",
)  # fmt: skip


class KpiComputeInput(BaseModel):
    period: ReportingPeriod
    policy: Policy
    computed_at: datetime  # the workflow's clock, so a retry writes the same row
    qualitative: dict[str, QualitativeInput] = {}


class KpiReportResult(BaseModel):
    period: str
    period_start: datetime
    period_end: datetime
    snapshots: int
    advisors: int
    departments: int
    firm: dict[str, Any]


def snapshot_rows(
    cards: list[Scorecard], period: ReportingPeriod, computed_at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "period": period.label,
            "scope": card.scope,
            "scope_id": card.scope_id,
            "period_start": period.start,
            "period_end": period.end,
            "metrics": {**card.metrics, "appraisal": card.appraisal.model_dump(mode="json")},
            "computed_at": computed_at,
        }
        for card in cards
    ]


class KpiActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name=COMPUTE_KPI_SNAPSHOTS)
    def compute_kpi_snapshots(self, req: KpiComputeInput) -> KpiReportResult:
        """Replaces every snapshot row of the period in one transaction.

        Deleting first drops scopes that no longer appear (an advisor who left), so the table
        holds exactly what a fresh computation gives; a retry computes and writes the same.
        """
        p, policy = req.period, req.policy
        as_of = min(p.end, req.computed_at)
        # One snapshot of the read models: clients, callbacks and complaints counted at the same
        # instant.
        with (
            self._deps.engine.connect() as conn,
            conn.execution_options(isolation_level="REPEATABLE READ").begin(),
        ):
            # Heartbeats between the steps: a worker that died mid-way is noticed within the
            # heartbeat timeout, not after the whole attempt's 15 minutes.
            activity.heartbeat("loading")
            facts = load_facts(conn, p.start, p.end, policy.appraisal.repeat_complaint_window)
            activity.heartbeat("scoring")
            cards = scorecards(
                facts, p, policy, as_of, previous_aum(conn, p.start), req.qualitative
            )
            rows = snapshot_rows(cards, p, req.computed_at)
            activity.heartbeat("writing")
            conn.execute(delete(kpi_snapshots).where(kpi_snapshots.c.period == p.label))
            # A run of the same period that committed meanwhile makes this insert fail (unique
            # key or serialization error); the activity's retry then recomputes from fresh data.
            conn.execute(insert(kpi_snapshots).values(rows))
        firm = cards[0]
        activity.logger.info(
            "kpi snapshots written", extra={"period": p.label, "snapshots": len(rows)}
        )
        return KpiReportResult(
            period=p.label,
            period_start=p.start,
            period_end=p.end,
            snapshots=len(rows),
            advisors=sum(c.scope == "advisor" for c in cards),
            departments=sum(c.scope == "department" for c in cards),
            firm={
                **{k: firm.metrics.get(k) for k in HEADLINE},
                "score": firm.appraisal.total,
            },
        )
