"""Consents are enforced on every outbound message when it is committed to the outbox
(activities.notifications), on PostgreSQL; again at send time in tests/delivery."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities, NotifyRequest
from domain.consent import ContactChannel, Purpose
from projections.crypto import FieldCipher
from projections.tables import notifications


def _request(purpose: Purpose, n: str = "1", **fields: object) -> NotifyRequest:
    values: dict[str, object] = {
        "notification_id": f"client-C-1:{n}:{purpose.value}",
        "workflow_id": "client-C-1",
        "client_id": "C-1",
        "purpose": purpose,
        "template": f"{purpose.value}-v1",
        **fields,
    }
    return NotifyRequest.model_validate(values)


@pytest.fixture
def notify(db: Engine, cipher: FieldCipher) -> NotificationActivities:
    return NotificationActivities(ActivityDeps(engine=db, cipher=cipher))


def _outbox(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(notifications).order_by(notifications.c.notification_id)))


# the fixture client consents to sms for service and complaint, e-mail for care only


def test_channel_consent_per_purpose(
    notify: NotificationActivities, insert_client: Callable[..., dict], db: Engine
) -> None:
    insert_client("C-1")
    service = notify.notify(_request(Purpose.SERVICE, channel=ContactChannel.EMAIL))
    assert (service.status, service.channel) == ("queued", "sms")  # e-mail not consented for it
    care = notify.notify(_request(Purpose.CARE, channel=ContactChannel.EMAIL))
    assert (care.status, care.channel) == ("queued", "email")
    events = notify.notify(_request(Purpose.EVENTS))
    assert (events.status, events.reason) == ("suppressed", "no consent for events")
    statuses = {r.purpose: (r.status, r.channel, r.next_attempt_at is None) for r in _outbox(db)}
    assert statuses == {
        "service": ("queued", "sms", False),
        "care": ("queued", "email", False),
        "events": ("suppressed", "none", True),
    }


def test_do_not_contact_suppresses_all_but_complaint_correspondence(
    notify: NotificationActivities, insert_client: Callable[..., dict], db: Engine
) -> None:
    insert_client("C-1", do_not_contact=True)
    for purpose in (Purpose.SERVICE, Purpose.CARE, Purpose.EVENTS):
        result = notify.notify(_request(purpose))
        assert (result.status, result.reason) == ("suppressed", "do_not_contact")
    complaint = notify.notify(_request(Purpose.COMPLAINT))
    assert (complaint.status, complaint.channel) == ("queued", "sms")
    assert [r.status for r in _outbox(db)].count("queued") == 1


def test_erased_or_unknown_clients_get_nothing(
    notify: NotificationActivities, insert_client: Callable[..., dict], db: Engine
) -> None:
    insert_client("C-1", erased_at=datetime.now(UTC))
    assert notify.notify(_request(Purpose.COMPLAINT)).status == "suppressed"
    unknown = _request(Purpose.SERVICE, client_id="C-404", notification_id="x:1:service")
    assert notify.notify(unknown).status == "suppressed"
    assert {r.status for r in _outbox(db)} == {"suppressed"}


def test_staff_messages_need_no_client_consent(notify: NotificationActivities, db: Engine) -> None:
    req = _request(Purpose.SERVICE, recipient_kind="advisor", recipient_id="A-7", client_id=None)
    assert notify.notify(req).status == "queued"
    assert [(r.notification_id, r.channel) for r in _outbox(db)] == [
        (req.notification_id, "internal")
    ]


def test_a_retry_queues_nothing_twice(
    notify: NotificationActivities, insert_client: Callable[..., dict], db: Engine
) -> None:
    insert_client("C-1")
    first = notify.notify(_request(Purpose.SERVICE))
    again = notify.notify(_request(Purpose.SERVICE))
    assert first == again
    suppressed = notify.notify(_request(Purpose.EVENTS))
    assert notify.notify(_request(Purpose.EVENTS)) == suppressed
    assert len(_outbox(db)) == 2


def test_concurrent_attempts_commit_one_row(
    db: Engine, cipher: FieldCipher, insert_client: Callable[..., dict]
) -> None:
    """A retry started after a timeout runs alongside the first attempt: one row, one answer."""
    insert_client("C-1")
    woken: list[int] = []
    activities = NotificationActivities(
        ActivityDeps(engine=db, cipher=cipher), lambda: woken.append(1)
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: activities.notify(_request(Purpose.SERVICE)), range(4)))
    assert {(r.status, r.channel) for r in results} == {("queued", "sms")}
    assert len(_outbox(db)) == 1 and 1 <= len(woken) <= 4


@pytest.mark.parametrize(
    "params",
    [{"client_name": "王小明"}, {"note": "call back"}, {"when": "call 13812345678 at 3pm"}],
)
def test_personal_data_in_params_is_refused_unwritten(
    notify: NotificationActivities,
    insert_client: Callable[..., dict],
    db: Engine,
    params: dict[str, str],
) -> None:
    insert_client("C-1")
    with pytest.raises(ApplicationError) as err:
        notify.notify(_request(Purpose.SERVICE, params=params))
    assert err.value.non_retryable and err.value.type == "PersonalDataInParams"
    assert all(v not in str(err.value) for v in params.values())
    assert _outbox(db) == []
    ok = notify.notify(_request(Purpose.SERVICE, n="2", params={"due": "2027-03-15", "n": 2}))
    assert ok.status == "queued"
