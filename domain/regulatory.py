"""Complaint statistics in the shape a regulator asks of a wealth-management firm (the periodic
consumer-complaint return, 投诉数据报送): how many were received, how fast they were decided,
how many were extended, overdue or withdrawn, broken down by business category, cause, channel
and department, with the satisfaction of decided complaints and the redress paid.

Each complaint's regulatory category is derived from the category its assessment gave it, so no
history needs to carry it and a re-mapped taxonomy re-reports every past complaint. Definitions,
for a reporting period [start, end):

- received: received in the period (the clock runs from receipt);
- closed: decided in the period (the resolution plan is the firm's decision, 处理决定), withdrawn
  complaints excluded; `closed_within_15d` and `closed_within_30d` count those decided within 15
  and 30 calendar days of receipt (cumulative: the 30-day figure includes the 15-day one);
- extended, overdue: received in the period and extended at least once, or past their decision
  deadline at some point (`SlaBreached`);
- withdrawn: withdrawn in the period;
- satisfaction: the follow-up answers (1–5) of complaints closed in the period; satisfied means
  at least the policy's `satisfied_at`;
- compensated: complaints closed in the period whose resolution names a compensation amount
  above zero, and the total of those amounts (CNY).

Not reportable: a complaint withdrawn before anyone assessed it has no category to report it
under (in practice a filing in error); it is still counted in the firm's own report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.complaint import ComplaintCategory


class RegulatoryCategory(StrEnum):
    """The regulator's business categories of a consumer complaint about wealth management."""

    PRODUCT_RETURNS = "product_returns"  # 产品收益
    SALES_SUITABILITY = "sales_suitability"  # 销售行为与适当性
    FEES_AND_CHARGES = "fees_and_charges"  # 收费定价
    INFORMATION_DISCLOSURE = "information_disclosure"  # 信息披露
    SERVICE_QUALITY = "service_quality"  # 服务质量
    TRANSACTION_HANDLING = "transaction_handling"  # 业务办理
    PERSONAL_INFORMATION = "personal_information"  # 个人信息保护
    OTHER = "other"
    UNCLASSIFIED = "unclassified"  # not assessed yet


REGULATORY_CATEGORY: dict[ComplaintCategory, RegulatoryCategory] = {
    ComplaintCategory.PRODUCT_PERFORMANCE: RegulatoryCategory.PRODUCT_RETURNS,
    ComplaintCategory.SUITABILITY: RegulatoryCategory.SALES_SUITABILITY,
    ComplaintCategory.FEES: RegulatoryCategory.FEES_AND_CHARGES,
    ComplaintCategory.DISCLOSURE: RegulatoryCategory.INFORMATION_DISCLOSURE,
    ComplaintCategory.SERVICE_ATTITUDE: RegulatoryCategory.SERVICE_QUALITY,
    ComplaintCategory.TRANSACTION_PROCESSING: RegulatoryCategory.TRANSACTION_HANDLING,
    ComplaintCategory.PRIVACY: RegulatoryCategory.PERSONAL_INFORMATION,
    ComplaintCategory.OTHER: RegulatoryCategory.OTHER,
}
WITHIN = (timedelta(days=15), timedelta(days=30))
DIMENSIONS = ("regulatory_category", "root_cause", "channel", "department")
UNKNOWN = "unknown"  # no root cause or department (yet)


def regulatory_category(category: str | None) -> RegulatoryCategory:
    """The regulator's category for a complaint category; unassessed (or a category this
    version does not know) is `unclassified`, so the return still counts it."""
    try:
        return REGULATORY_CATEGORY[ComplaintCategory(category or "")]
    except ValueError:
        return RegulatoryCategory.UNCLASSIFIED


def reportable(category: str | None, stage: str) -> bool:
    return not (category is None and stage == "withdrawn")


@dataclass(frozen=True)
class RegulatoryFact:
    """What the return needs of one complaint; no personal data."""

    complaint_id: str
    channel: str
    stage: str
    received_at: datetime
    category: str | None = None
    root_cause: str | None = None
    department: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None  # closing or withdrawal
    extensions: int = 0
    sla_breached: bool = False
    satisfaction: int | None = None
    compensation: Decimal | None = None

    @property
    def regulatory_category(self) -> RegulatoryCategory:
        return regulatory_category(self.category)

    @property
    def reportable(self) -> bool:
        return reportable(self.category, self.stage)

    @property
    def withdrawn(self) -> bool:
        return self.stage == "withdrawn"

    def value(self, dimension: str) -> str:
        if dimension == "regulatory_category":
            return self.regulatory_category.value
        raw: str | None = getattr(self, dimension)
        return raw or UNKNOWN


@dataclass(frozen=True)
class Figures:
    received: int = 0
    closed: int = 0
    closed_within_15d: int = 0
    closed_within_30d: int = 0
    extended: int = 0
    overdue: int = 0
    withdrawn: int = 0
    rated: int = 0
    satisfied: int = 0
    satisfaction_sum: int = 0
    compensated: int = 0
    compensation_total: Decimal = Decimal(0)

    @property
    def satisfaction_mean(self) -> float | None:
        return None if self.rated == 0 else self.satisfaction_sum / self.rated

    @property
    def satisfied_share(self) -> float | None:
        return None if self.rated == 0 else self.satisfied / self.rated

    @property
    def closed_within_15d_share(self) -> float | None:
        return None if self.closed == 0 else self.closed_within_15d / self.closed


COLUMNS = (
    "received", "closed", "closed_within_15d", "closed_within_30d", "extended", "overdue",
    "withdrawn", "rated", "satisfied", "satisfaction_mean", "compensated", "compensation_total",
)  # fmt: skip


def figures(
    facts: Iterable[RegulatoryFact], start: datetime, end: datetime, satisfied_at: int
) -> Figures:
    """The return's figures for the reportable complaints among `facts`."""

    def within(at: datetime | None) -> bool:
        return at is not None and start <= at < end

    received = closed = in15 = in30 = extended = overdue = withdrawn = 0
    rated = satisfied = score = compensated = 0
    total = Decimal("0.00")  # CNY to the fen, even when nothing was paid
    for f in facts:
        if not f.reportable:
            continue
        if within(f.received_at):
            received += 1
            extended += f.extensions > 0
            overdue += f.sla_breached
        if f.withdrawn:
            withdrawn += within(f.closed_at)
            continue
        if f.resolved_at is None or not within(f.resolved_at):
            continue
        closed += 1
        took = f.resolved_at - f.received_at
        in15 += took <= WITHIN[0]
        in30 += took <= WITHIN[1]
        if f.satisfaction is not None:
            rated += 1
            score += f.satisfaction
            satisfied += f.satisfaction >= satisfied_at
        if f.compensation is not None and f.compensation > 0:
            compensated += 1
            total += f.compensation
    return Figures(
        received, closed, in15, in30, extended, overdue, withdrawn,
        rated, satisfied, score, compensated, total,
    )  # fmt: skip


@dataclass(frozen=True)
class ReturnRow:
    dimension: str  # "all" for the firm's line, else one of DIMENSIONS
    value: str
    figures: Figures


def regulator_return(
    facts: Sequence[RegulatoryFact], start: datetime, end: datetime, satisfied_at: int
) -> list[ReturnRow]:
    """The firm's line, then one line per value of each dimension (values sorted), leaving out
    values with nothing to report in the period."""
    rows = [ReturnRow("all", "all", figures(facts, start, end, satisfied_at))]
    for dimension in DIMENSIONS:
        groups: dict[str, list[RegulatoryFact]] = {}
        for f in facts:
            groups.setdefault(f.value(dimension), []).append(f)
        for value in sorted(groups):
            group = figures(groups[value], start, end, satisfied_at)
            if group != Figures():
                rows.append(ReturnRow(dimension, value, group))
    return rows
