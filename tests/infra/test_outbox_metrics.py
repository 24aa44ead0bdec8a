"""The outbox's gauges: rows by state (a dispatcher's `sending` included), those waiting for a
retry after a failed delivery, and how long the longest-waiting due row has waited; a row held
back (its backoff or the contact window not over) is not late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio.runtime import Runtime, TelemetryConfig

from infra.embedded_pg import free_port
from infra.metrics import ServiceMetrics, prometheus
from projections.tables import notifications
from tests.helpers.scrape import scrape


def _row(n: int, status: str, **values: object) -> dict[str, object]:
    return {
        "notification_id": f"n-out-{n}", "workflow_id": "client-c-out", "recipient_kind": "client",
        "channel": "sms", "purpose": "care", "template": "greeting", "status": status,
        "created_at": datetime.now(UTC) - timedelta(hours=1), "attempts": 0,
        "next_attempt_at": None, "claimed_until": None, **values,
    }  # fmt: skip


def _value(series: dict, name: str, **labels: str) -> float:
    [value] = [v for (n, p), v in series.items() if n == name and set(labels.items()) <= p]
    return value


async def test_outbox_gauges(db: Engine) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    metrics = ServiceMetrics(runtime.metric_meter, db)
    metrics.collect()
    empty = await scrape(port)
    assert _value(empty, "client_care_outbox_oldest_due_seconds") == 0
    assert _value(empty, "client_care_outbox_retrying") == 0
    now = datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(notifications.insert(), [
            _row(1, "queued", next_attempt_at=now - timedelta(minutes=10), attempts=2),
            _row(2, "queued", next_attempt_at=now + timedelta(hours=8)),  # held for the morning
            _row(3, "queued", next_attempt_at=now - timedelta(minutes=1)),
            _row(4, "sending", attempts=1, claimed_until=now + timedelta(minutes=1)),
            _row(5, "failed", attempts=5),
            _row(6, "sent", attempts=1),
        ])  # fmt: skip
    metrics.collect()
    series = await scrape(port)
    name = "client_care_outbox_notifications"
    assert [_value(series, name, state=s) for s in ("queued", "sending", "failed")] == [3, 1, 1]
    assert _value(series, "client_care_outbox_retrying") == 1
    assert 590 <= _value(series, "client_care_outbox_oldest_due_seconds") <= 700
