"""`KpiReportWorkflow`: one reporting period's KPI snapshots (CONTRACT: schedule `kpi-report`).

Started by the monthly schedule with no period, it reports on the calendar month before the
one it was *scheduled* for: a run delayed past midnight, or a catch-up run after an outage,
still reports the month it was meant to. Started by hand, it takes a label or a range.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.kpi import KpiActivities, KpiComputeInput, KpiReportResult
    from activities.policy import PolicyActivities, PolicyAt
    from domain.appraisal import QualitativeInput
    from domain.kpi_period import ReportingPeriod
    from domain.policy import Policy
    from workflows.search_attributes import SCHEDULED_START

WORKFLOW_TYPE = "KpiReportWorkflow"
SCHEDULE_ID = "kpi-report"
KPI_HEARTBEAT = timedelta(minutes=5)
"""Room for the slowest step (loading a period's facts) with margin, far shorter than the
attempt's 15 minutes: a dead worker's attempt is retried within it."""


class KpiReportInput(BaseModel):
    """Either a `period` label (2027-03, 2027-Q1, 2027), or `period_start` and `period_end`, or
    neither: then the month before the scheduled time.

    Checked in `resolve`, not by pydantic: a payload that fails to decode would stall the
    workflow task, whereas a refused period fails the run with a message saying why.
    """

    policy: Policy
    period: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    qualitative: dict[str, QualitativeInput] = {}  # "advisor:<id>" or "department:<id>"

    def resolve(self, fired_at: datetime) -> ReportingPeriod:
        zone = self.policy.zone()
        has_range = self.period_start is not None or self.period_end is not None
        if self.period is not None and has_range:
            raise ValueError("give either a period label or period_start/period_end, not both")
        if self.period is not None:
            return ReportingPeriod.parse(self.period, zone)
        if has_range:
            if self.period_start is None or self.period_end is None:
                raise ValueError("period_start and period_end go together")
            return ReportingPeriod.custom(self.period_start, self.period_end, zone)
        return ReportingPeriod.month_before(fired_at, zone)


POLICY_IN_FORCE = "kpi-report-reads-policy-in-force"
"""The report weighs KPIs by the published policy version in force when it was due; the
schedule's input is whichever worker created the schedule's, so it is only the fallback."""


# Pinned: one report, minutes long, computed by one version of the rules.
@workflow.defn(name=WORKFLOW_TYPE, versioning_behavior=VersioningBehavior.PINNED)
class KpiReportWorkflow:
    @workflow.run
    async def run(self, inp: KpiReportInput) -> KpiReportResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        try:
            period = inp.resolve(scheduled or workflow.now())
        except ValueError as exc:
            raise ApplicationError(str(exc), type="InvalidPeriod", non_retryable=True) from exc
        policy = inp.policy
        if workflow.patched(POLICY_IN_FORCE):
            published = await workflow.execute_activity_method(
                PolicyActivities.policy_in_force,
                PolicyAt(at=scheduled or workflow.now()),
                start_to_close_timeout=timedelta(minutes=1),
            )
            policy = published.policy if published is not None else policy
        return await workflow.execute_activity_method(
            KpiActivities.compute_kpi_snapshots,
            KpiComputeInput(
                period=period,
                policy=policy,
                computed_at=workflow.now(),
                qualitative=inp.qualitative,
            ),
            start_to_close_timeout=timedelta(minutes=15),
            heartbeat_timeout=KPI_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            summary=f"KPI snapshots for {period.label}",
        )
