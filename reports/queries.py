"""Reads the projections into the plain facts the KPI functions take.

Shared by the KPI activity and the HTML report, so a report and the snapshot of the same period
always agree. Only non-personal columns are read: nothing here needs the cipher.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from domain.kpi import CallbackFact, ClientFact, ComplaintFact
from domain.kpi_scorecard import KpiFacts
from domain.periods import Period
from domain.regulatory import RegulatoryFact
from projections.tables import (
    clients,
    complaint_events,
    complaints,
    kpi_snapshots,
    service_tasks,
)

log = logging.getLogger(__name__)

CALLBACK_KIND = "callback"
# Task statuses for which nothing was owed: the client left, or a greeting could not be sent.
NOT_OWED = frozenset({"cancelled", "suppressed"})
# Keys of a callback's `outcome` JSON that hold the client's answers.
SATISFACTION_KEY, RECOMMEND_KEY = "satisfaction", "recommend"


def _answer(outcome: Mapping[str, Any] | None, key: str, low: int, high: int) -> int | None:
    """An answer on its scale, or None: one malformed row must not stop the firm's report."""
    value = (outcome or {}).get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    log.warning("ignoring callback answer %s outside %s–%s", key, low, high)
    return None


def load_complaints(conn: Connection, start: datetime, end: datetime) -> list[ComplaintFact]:
    """Complaints received in [start, end), or decided, closed or due in it while undecided."""
    c = complaints
    rows = conn.execute(
        select(
            c.c.complaint_id,
            c.c.client_id,
            c.c.channel,
            c.c.received_at,
            c.c.stage,
            c.c.category,
            c.c.root_cause,
            c.c.department,
            clients.c.advisor_id,
            c.c.resolved_at,
            c.c.closed_at,
            c.c.sla_deadline,
            c.c.satisfaction,
            c.c.merged_count,
        )
        .select_from(c.outerjoin(clients, clients.c.client_id == c.c.client_id))
        .where(
            c.c.received_at < end,
            or_(
                c.c.received_at >= start,
                c.c.resolved_at >= start,
                c.c.closed_at >= start,
                and_(c.c.resolved_at.is_(None), c.c.sla_deadline >= start),
            ),
        )
        .order_by(c.c.received_at, c.c.complaint_id)
    )
    return [
        ComplaintFact(
            **{k: v for k, v in r._mapping.items() if k != "satisfaction"},
            satisfaction=r.satisfaction if r.satisfaction in range(1, 6) else None,
        )
        for r in rows
    ]


def load_callbacks(conn: Connection, start: datetime, end: datetime) -> list[CallbackFact]:
    """Callbacks due in [start, end) or completed in it."""
    t = service_tasks
    rows = conn.execute(
        select(
            t.c.task_id,
            t.c.client_id,
            t.c.due_at,
            t.c.completed_at,
            t.c.status,
            t.c.advisor_id,
            t.c.tier,
            t.c.outcome,
        )
        .where(
            t.c.kind == CALLBACK_KIND,
            or_(
                and_(t.c.due_at >= start, t.c.due_at < end),
                and_(t.c.completed_at >= start, t.c.completed_at < end),
            ),
        )
        .order_by(t.c.due_at, t.c.task_id)
    )
    return [
        CallbackFact(
            task_id=r.task_id,
            client_id=r.client_id,
            due_at=r.due_at,
            completed_at=r.completed_at,
            cancelled=r.status in NOT_OWED,
            advisor_id=r.advisor_id,
            tier=r.tier,
            satisfaction=_answer(r.outcome, SATISFACTION_KEY, 1, 5),
            recommend=_answer(r.outcome, RECOMMEND_KEY, 0, 10),
        )
        for r in rows
    ]


def load_clients(conn: Connection) -> list[ClientFact]:
    """Every client ever served. The projection keeps no departure time, so a closed client is
    taken to have left when its row last changed."""
    rows = conn.execute(
        select(
            clients.c.client_id,
            clients.c.advisor_id,
            clients.c.tier,
            clients.c.aum,
            clients.c.onboarded_at,
            clients.c.status,
            clients.c.updated_at,
        ).order_by(clients.c.client_id)
    )
    return [
        ClientFact(
            client_id=r.client_id,
            advisor_id=r.advisor_id,
            tier=r.tier,
            aum=r.aum if r.aum is not None else Decimal(0),
            onboarded_at=r.onboarded_at,
            left_at=r.updated_at if r.status == "closed" else None,
        )
        for r in rows
    ]


def load_facts(conn: Connection, start: datetime, end: datetime, lookback: Period) -> KpiFacts:
    """Facts for [start, end); complaints reach back `lookback` for repeat detection."""
    return KpiFacts(
        complaints=tuple(load_complaints(conn, lookback.after(start, times=-1), end)),
        callbacks=tuple(load_callbacks(conn, start, end)),
        clients=tuple(load_clients(conn)),
    )


def previous_aum(conn: Connection, start: datetime) -> dict[tuple[str, str], Decimal]:
    """Each scope's `aum_end` from the snapshot of the period that ended where this one starts."""
    rows = conn.execute(
        select(kpi_snapshots.c.scope, kpi_snapshots.c.scope_id, kpi_snapshots.c.metrics).where(
            kpi_snapshots.c.period_end == start
        )
    )
    out: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        value = r.metrics.get("aum_end")
        if value is not None:
            out[(r.scope, r.scope_id)] = Decimal(str(value))
    return out


def load_regulatory_facts(conn: Connection, start: datetime, end: datetime) -> list[RegulatoryFact]:
    """Complaints received, decided or withdrawn in [start, end), with the compensation of each
    one's latest decision (the `resolved` event's data: the `complaints` row has no column)."""
    c, e = complaints, complaint_events
    latest = (
        select(e.c.complaint_id, func.max(e.c.seq).label("seq"))
        .where(e.c.kind == "resolved")
        .group_by(e.c.complaint_id)
        .subquery()
    )
    decided = (
        select(e.c.complaint_id, e.c.data["compensation"].astext.label("compensation"))
        .join(latest, and_(latest.c.complaint_id == e.c.complaint_id, latest.c.seq == e.c.seq))
        .subquery()
    )
    rows = conn.execute(
        select(
            c.c.complaint_id, c.c.channel, c.c.stage, c.c.received_at, c.c.category,
            c.c.root_cause, c.c.department, c.c.resolved_at, c.c.closed_at, c.c.extensions,
            c.c.sla_breached, c.c.satisfaction, decided.c.compensation,
        )
        .select_from(c.outerjoin(decided, decided.c.complaint_id == c.c.complaint_id))
        .where(
            c.c.received_at < end,
            or_(c.c.received_at >= start, c.c.resolved_at >= start, c.c.closed_at >= start),
        )
        .order_by(c.c.received_at, c.c.complaint_id)
    )  # fmt: skip
    facts = []
    for r in rows:
        m = dict(r._mapping)
        m["satisfaction"] = m["satisfaction"] if m["satisfaction"] in range(1, 6) else None
        m["compensation"] = _amount(m["compensation"])
        facts.append(RegulatoryFact(**m))
    return facts


def _amount(text: str | None) -> Decimal | None:
    """A compensation amount as recorded, or None: one malformed row must not stop the return."""
    if text is None:
        return None
    try:
        return Decimal(text)
    except ArithmeticError:
        log.warning("ignoring a compensation amount that is not a number")
        return None
