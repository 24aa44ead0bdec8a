"""The worker's Prometheus metrics: the SDK's own and the service's, on one `/metrics` endpoint.

The SDK's core runtime serves its metrics (workflow task failures, schedule-to-start latency,
polls, requests, …) when created with a `PrometheusConfig`; the service's are gauges on the
same runtime's meter, set from the read models on a fixed period (`ServiceMetrics.run`): the
read models are what every worker shares, so any one worker reports the same totals and a
restart loses nothing. Labels are stages, tiers, kinds and states only — never an id, a name or
anything personal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import Engine, func, select
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig

from domain.complaint import OPEN
from domain.enums import Tier
from projections.tables import complaint_events, complaints, notifications, service_tasks

PREFIX = "client_care_"
# The events of a complaint's timeline that count as deadline warnings and breaches
DEADLINE_EVENTS = {"deadline_warning": "warning", "sla_breached": "breach"}
# The outbox's unfinished and given-up rows (activities.delivery): `sent` and `suppressed` are done
OUTBOX_STATES = ("queued", "sending", "failed")


def prometheus(bind_address: str) -> PrometheusConfig:
    """The SDK's Prometheus endpoint (`host:port`, serving `/metrics`); durations in seconds,
    counters with `_total`, as Temporal's own dashboards expect."""
    return PrometheusConfig(
        bind_address=bind_address, counters_total_suffix=True, durations_as_seconds=True
    )


class ServiceMetrics:
    """The service's gauges. `collect()` reads the read models once; `run()` repeats it."""

    def __init__(self, meter: MetricMeter, engine: Engine) -> None:
        self._engine = engine
        g = meter.create_gauge
        self.open_complaints = g(
            PREFIX + "open_complaints", "open complaints by stage and breach state"
        )
        self.deadline_events = g(
            PREFIX + "complaint_deadline_events",
            "deadline warnings and breaches recorded so far, by kind (use increase())",
        )
        self.overdue_callbacks = g(
            PREFIX + "overdue_callbacks", "callbacks past their grace period, by client tier"
        )
        self.outbox = g(
            PREFIX + "outbox_notifications", "notifications queued, being sent or failed, by state"
        )
        self.outbox_retrying = g(
            PREFIX + "outbox_retrying",
            "queued notifications whose delivery failed at least once and waits for a retry",
        )
        self.outbox_due_age = g(
            PREFIX + "outbox_oldest_due_seconds",
            "how long the longest-waiting notification has been due and not sent (0: none)",
        )

    def collect(self) -> None:
        with self._engine.connect() as conn:
            by_stage = conn.execute(
                select(complaints.c.stage, complaints.c.sla_breached, func.count())
                .where(complaints.c.stage.in_([s.value for s in OPEN]))
                .group_by(complaints.c.stage, complaints.c.sla_breached)
            ).all()
            events = conn.execute(
                select(complaint_events.c.kind, func.count())
                .where(complaint_events.c.kind.in_(list(DEADLINE_EVENTS)))
                .group_by(complaint_events.c.kind)
            ).all()
            overdue = conn.execute(
                select(service_tasks.c.tier, func.count())
                .where(service_tasks.c.kind == "callback", service_tasks.c.status == "overdue")
                .group_by(service_tasks.c.tier)
            ).all()
            outbox = conn.execute(
                select(notifications.c.status, func.count())
                .where(notifications.c.status.in_(OUTBOX_STATES))
                .group_by(notifications.c.status)
            ).all()
            queued = notifications.c.status == "queued"
            retrying = conn.execute(
                select(func.count()).where(queued, notifications.c.attempts > 0)
            ).scalar_one()
            # due: past its backoff and contact window (a message held for the morning is not
            # late); a row without a time is due since it was queued
            due_since = func.coalesce(notifications.c.next_attempt_at, notifications.c.created_at)
            oldest_due, now = conn.execute(
                select(func.min(due_since), func.now()).where(queued, due_since <= func.now())
            ).one()
        # Every label set is written every time, zeros included: a gauge left at its last
        # value after the last complaint of a stage moves on would lie.
        stages = {(s, b): n for s, b, n in by_stage}
        for stage in sorted(OPEN):
            for breached in (False, True):
                value = stages.get((stage.value, breached), 0)
                labels = {"stage": stage.value, "breached": str(breached).lower()}
                self.open_complaints.set(value, labels)
        kinds: dict[str, int] = {k: n for k, n in events}
        for kind, label in DEADLINE_EVENTS.items():
            self.deadline_events.set(kinds.get(kind, 0), {"kind": label})
        tiers = {(t or "unknown"): n for t, n in overdue}
        for tier in _tiers(tiers):
            self.overdue_callbacks.set(tiers.get(tier, 0), {"tier": tier})
        states: dict[str, int] = {s: n for s, n in outbox}
        for state in OUTBOX_STATES:
            self.outbox.set(states.get(state, 0), {"state": state})
        self.outbox_retrying.set(int(retrying))
        self.outbox_due_age.set(int((now - oldest_due).total_seconds()) if oldest_due else 0)

    async def run(self, every: float = 30.0) -> None:
        """Until cancelled; a failed read (PostgreSQL away) is retried at the next period."""
        while True:
            try:
                await asyncio.to_thread(self.collect)
            except Exception as exc:  # the metrics must never stop the worker
                from infra.logging import get_logger

                get_logger("infra.metrics").warning("metrics not collected", error=str(exc))
            await asyncio.sleep(every)


def _tiers(seen: Iterable[str]) -> list[str]:
    # a task written before its client was tiered has no tier: reported as "unknown"
    known = [t.value for t in Tier]
    return known + sorted(set(seen) - set(known))
