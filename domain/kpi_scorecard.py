"""From the period's facts to one scorecard per scope: the firm, each advisor, each department.

Each scope is judged on what it controls. Advisors own the client relationship: callbacks,
satisfaction, retention, AUM, and how often their clients complain again. Departments own
complaint handling: deadlines, resolution times, satisfaction with the handling. The firm sees
everything, plus the complaint analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from domain import kpi
from domain.analysis import analyse_complaints
from domain.appraisal import Appraisal, QualitativeInput, appraise
from domain.kpi import CallbackFact, ClientFact, ComplaintFact
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy

Scope = Literal["firm", "advisor", "department"]
FIRM_ID = "firm"
Metrics = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class KpiFacts:
    """What the projections hold for a period. `complaints` must reach back the policy's repeat
    window before the period, and include any complaint decided, closed or due in it."""

    complaints: tuple[ComplaintFact, ...] = ()
    callbacks: tuple[CallbackFact, ...] = ()
    clients: tuple[ClientFact, ...] = ()


class Scorecard(BaseModel):
    model_config = ConfigDict(frozen=True)
    scope: Scope
    scope_id: str
    metrics: Metrics
    appraisal: Appraisal


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 2))


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def service_metrics(
    callbacks: Iterable[CallbackFact], p: ReportingPeriod, policy: Policy, as_of: datetime
) -> Metrics:
    cbs = list(callbacks)
    done = kpi.callback_completion(cbs, p.start, p.end, policy.service.callback_grace, as_of)
    satisfaction, recommend = kpi.callback_answers(cbs, p.start, p.end)
    sat = kpi.csat(satisfaction)
    return {
        "csat": _round(sat.value),
        "csat_responses": sat.total,
        "nps": _round(kpi.nps(recommend), 2),
        "nps_responses": len(recommend),
        "callback_completion": _round(done.value),
        "callbacks_due": done.total,
        "callbacks_on_time": done.hits,
    }


def client_metrics(
    clients: Iterable[ClientFact], p: ReportingPeriod, aum_start: Decimal | None
) -> Metrics:
    members = list(clients)
    counts = kpi.client_counts(members, p.start, p.end)
    aum_end = sum((c.aum for c in members if c.served_at(p.before())), Decimal(0))
    growth = kpi.aum_growth(aum_start, aum_end, kpi.net_new_money(members, p.start, p.end))
    return {
        "clients_start": counts.at_start,
        "clients_new": counts.new,
        "clients_end": counts.at_end,
        "retention": _round(counts.retention),
        "aum_start": _money(growth.start),
        "aum_end": _money(growth.end),
        "net_new_money": _money(growth.net_new_money),
        "market_movement": _money(growth.market_movement),
        "aum_growth": _round(growth.rate, 6),
        "net_new_money_rate": _round(growth.net_new_money_rate, 6),
        "market_rate": _round(growth.market_rate, 6),
    }


def handling_metrics(
    complaints: Iterable[ComplaintFact], p: ReportingPeriod, policy: Policy, as_of: datetime
) -> Metrics:
    cs = list(complaints)
    days = kpi.resolution_days(cs, p.start, p.end)
    deadline = kpi.deadline_compliance(cs, p.start, p.end, as_of)
    satisfied, mean = kpi.complaint_satisfaction(cs, p.start, p.end, policy.complaints.satisfied_at)
    return {
        "complaints_decided": len(days),
        "resolution_days_p50": _round(kpi.percentile(days, 50), 2),
        "resolution_days_p90": _round(kpi.percentile(days, 90), 2),
        "deadline_compliance": _round(deadline.value),
        "deadline_due": deadline.total,
        "deadline_met": deadline.hits,
        "complaint_satisfaction": _round(satisfied.value),
        "complaint_satisfaction_responses": satisfied.total,
        "complaint_satisfaction_mean": _round(mean, 2),
    }


def incidence_metrics(
    complaints: Iterable[ComplaintFact], p: ReportingPeriod, policy: Policy
) -> Metrics:
    cs = list(complaints)
    received = [c for c in cs if p.start <= c.received_at < p.end]
    repeats = kpi.repeat_complaints(cs, p.start, p.end, policy.appraisal.repeat_complaint_window)
    return {
        "complaints_received": len(received),
        "repeat_complaints": _round(repeats.value),
        "repeat_complaint_count": repeats.hits,
        "merged_repeats": sum(c.merged_count for c in received),
    }


def _in_period(c: ComplaintFact, p: ReportingPeriod) -> bool:
    """Touched the period: received, decided, closed or due in it."""
    return any(
        t is not None and p.start <= t < p.end
        for t in (c.received_at, c.resolved_at, c.closed_at, c.sla_deadline)
    )


def _ids(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})


def _where(items: Iterable[T], key: Callable[[T], str | None], wanted: str) -> list[T]:
    return [i for i in items if key(i) == wanted]


def scorecards(
    facts: KpiFacts,
    period: ReportingPeriod,
    policy: Policy,
    as_of: datetime,
    aum_start: Mapping[tuple[str, str], Decimal] | None = None,
    qualitative: Mapping[str, QualitativeInput] | None = None,
) -> list[Scorecard]:
    """Firm first, then advisors, then departments, each sorted by id.

    `aum_start` maps (scope, scope_id) to the AUM at the period's start (the previous snapshot's
    `aum_end`); `qualitative` maps "scope:scope_id" to the supervisor's ratings.
    `as_of` is when the figures are taken: open items are judged only up to it.
    """
    starts = aum_start or {}
    judged = qualitative or {}
    p, cs, cbs, cls = period, facts.complaints, facts.callbacks, facts.clients

    def card(scope: Scope, scope_id: str, metrics: Metrics) -> Scorecard:
        appraisal = appraise(metrics, policy.appraisal, judged.get(f"{scope}:{scope_id}"))
        return Scorecard(scope=scope, scope_id=scope_id, metrics=metrics, appraisal=appraisal)

    firm = {
        **service_metrics(cbs, p, policy, as_of),
        **client_metrics(cls, p, starts.get(("firm", FIRM_ID))),
        **handling_metrics(cs, p, policy, as_of),
        **incidence_metrics(cs, p, policy),
        "complaint_analysis": analyse_complaints(
            (c for c in cs if p.start <= c.received_at < p.end), policy.zone()
        ).as_json(),
    }
    cards = [card("firm", FIRM_ID, firm)]

    served = [c for c in cls if c.served_at(p.start) or c.served_at(p.before())]
    touched = [c for c in cs if _in_period(c, p)]
    due = [cb for cb in cbs if p.start <= cb.due_at < p.end]
    for advisor in _ids([c.advisor_id for c in served] + [cb.advisor_id for cb in due]):
        metrics = {
            **service_metrics(_where(cbs, lambda cb: cb.advisor_id, advisor), p, policy, as_of),
            **client_metrics(
                _where(cls, lambda c: c.advisor_id, advisor), p, starts.get(("advisor", advisor))
            ),
            **incidence_metrics(_where(cs, lambda c: c.advisor_id, advisor), p, policy),
        }
        cards.append(card("advisor", advisor, metrics))
    for dept in _ids(c.department for c in touched):
        own = _where(cs, lambda c: c.department, dept)
        metrics = {**handling_metrics(own, p, policy, as_of), **incidence_metrics(own, p, policy)}
        cards.append(card("department", dept, metrics))
    return cards
