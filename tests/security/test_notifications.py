"""Consents are enforced on every outbound message (activities.notifications), on PostgreSQL."""

from __future__ import annotations

import threading
import time
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


class RecordingSender:
    def __init__(self, delay: float = 0.0, fail_times: int = 0) -> None:
        self.sent: list[tuple[str, str]] = []
        self._delay = delay
        self._fail_times = fail_times
        self._lock = threading.Lock()

    def send(self, request: NotifyRequest, channel: str) -> None:
        time.sleep(self._delay)
        with self._lock:
            if self._fail_times:
                self._fail_times -= 1
                raise ConnectionError("gateway down")
            self.sent.append((request.notification_id, channel))


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
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def notify(db: Engine, cipher: FieldCipher, sender: RecordingSender) -> NotificationActivities:
    return NotificationActivities(ActivityDeps(engine=db, cipher=cipher), sender)


def _outbox(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(notifications).order_by(notifications.c.notification_id)))


# the fixture client consents to sms for service and complaint, e-mail for care only


def test_channel_consent_per_purpose(
    notify: NotificationActivities,
    sender: RecordingSender,
    insert_client: Callable[..., dict],
    db: Engine,
) -> None:
    insert_client("C-1")
    service = notify.notify(_request(Purpose.SERVICE, channel=ContactChannel.EMAIL))
    assert (service.status, service.channel) == ("sent", "sms")  # e-mail not consented for it
    care = notify.notify(_request(Purpose.CARE, channel=ContactChannel.EMAIL))
    assert (care.status, care.channel) == ("sent", "email")
    events = notify.notify(_request(Purpose.EVENTS))
    assert (events.status, events.reason) == ("suppressed", "no consent for events")
    assert [channel for _, channel in sender.sent] == ["sms", "email"]
    statuses = {r.purpose: (r.status, r.channel) for r in _outbox(db)}
    assert statuses == {
        "service": ("sent", "sms"),
        "care": ("sent", "email"),
        "events": ("suppressed", "none"),
    }


def test_do_not_contact_suppresses_all_but_complaint_correspondence(
    notify: NotificationActivities, sender: RecordingSender, insert_client: Callable[..., dict]
) -> None:
    insert_client("C-1", do_not_contact=True)
    for purpose in (Purpose.SERVICE, Purpose.CARE, Purpose.EVENTS):
        result = notify.notify(_request(purpose))
        assert (result.status, result.reason) == ("suppressed", "do_not_contact")
    complaint = notify.notify(_request(Purpose.COMPLAINT))
    assert (complaint.status, complaint.channel) == ("sent", "sms")
    assert len(sender.sent) == 1


def test_erased_or_unknown_clients_get_nothing(
    notify: NotificationActivities, sender: RecordingSender, insert_client: Callable[..., dict]
) -> None:
    insert_client("C-1", erased_at=datetime.now(UTC))
    assert notify.notify(_request(Purpose.COMPLAINT)).status == "suppressed"
    unknown = _request(Purpose.SERVICE, client_id="C-404", notification_id="x:1:service")
    assert notify.notify(unknown).status == "suppressed"
    assert sender.sent == []


def test_staff_messages_need_no_client_consent(
    notify: NotificationActivities, sender: RecordingSender
) -> None:
    req = _request(Purpose.SERVICE, recipient_kind="advisor", recipient_id="A-7", client_id=None)
    assert notify.notify(req).status == "sent"
    assert sender.sent == [(req.notification_id, "internal")]


def test_a_retry_does_not_resend(
    notify: NotificationActivities,
    sender: RecordingSender,
    insert_client: Callable[..., dict],
    db: Engine,
) -> None:
    insert_client("C-1")
    first = notify.notify(_request(Purpose.SERVICE))
    again = notify.notify(_request(Purpose.SERVICE))
    assert first == again
    suppressed = notify.notify(_request(Purpose.EVENTS))
    assert notify.notify(_request(Purpose.EVENTS)) == suppressed
    assert len(sender.sent) == 1 and len(_outbox(db)) == 2


def test_concurrent_attempts_send_once(
    db: Engine, cipher: FieldCipher, insert_client: Callable[..., dict]
) -> None:
    """A retry started after a timeout runs alongside the first attempt: one message leaves."""
    insert_client("C-1")
    slow = RecordingSender(delay=0.5)
    activities = NotificationActivities(ActivityDeps(engine=db, cipher=cipher), slow)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: activities.notify(_request(Purpose.SERVICE)), range(4)))
    assert len(slow.sent) == 1
    assert {(r.status, r.channel) for r in results} == {("sent", "sms")}


def test_a_failed_send_leaves_no_row_and_the_retry_sends(
    db: Engine, cipher: FieldCipher, insert_client: Callable[..., dict]
) -> None:
    insert_client("C-1")
    flaky = RecordingSender(fail_times=1)
    activities = NotificationActivities(ActivityDeps(engine=db, cipher=cipher), flaky)
    with pytest.raises(ConnectionError):
        activities.notify(_request(Purpose.SERVICE))
    assert _outbox(db) == []
    assert activities.notify(_request(Purpose.SERVICE)).status == "sent"
    assert len(flaky.sent) == 1 and _outbox(db)[0].status == "sent"


@pytest.mark.parametrize(
    "params",
    [{"client_name": "王小明"}, {"note": "call back"}, {"when": "call 13812345678 at 3pm"}],
)
def test_personal_data_in_params_is_refused_unwritten(
    notify: NotificationActivities,
    sender: RecordingSender,
    insert_client: Callable[..., dict],
    db: Engine,
    params: dict[str, str],
) -> None:
    insert_client("C-1")
    with pytest.raises(ApplicationError) as err:
        notify.notify(_request(Purpose.SERVICE, params=params))
    assert err.value.non_retryable and err.value.type == "PersonalDataInParams"
    assert all(v not in str(err.value) for v in params.values())
    assert sender.sent == [] and _outbox(db) == []
    ok = notify.notify(_request(Purpose.SERVICE, n="2", params={"due": "2027-03-15", "n": 2}))
    assert ok.status == "sent"
