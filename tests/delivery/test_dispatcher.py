"""The outbox's delivery (activities.delivery) on PostgreSQL, against a real HTTP SMS gateway and
a real SMTP server: once per message, bounded retries with backoff, the final failure on the
row, consent and the contact window at send time, the client's language and personal data
filled in only when the message is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from activities.channels import (
    Channel,
    Outgoing,
    SmsGateway,
    SmtpChannel,
    StaffNotices,
    Unconfigured,
)
from activities.complaints import sealing_context
from activities.delivery import Dispatcher, RetryPolicy
from activities.deps import ActivityDeps
from activities.messages import MessageCatalogue
from activities.notifications import NotificationActivities, NotifyRequest
from commands.notifications import OutboxFilter, list_outbox
from domain.client import ClientFile
from domain.consent import ContactChannel, Purpose
from domain.policy import Policy
from infra.embedded_pg import free_port
from projections.tables import client_events, complaint_events, complaints, notifications
from tests.delivery.conftest import Clock, outbox
from tests.delivery.servers import Gateway, Inbox, smtp_server

PHONE = "+8613812345678"


def greeting(
    client_id: str = "C-1", n: int = 7, template: str = "birthday_greeting"
) -> NotifyRequest:
    return NotifyRequest(
        notification_id=f"client-{client_id}:{n}:care",
        workflow_id=f"client-{client_id}",
        client_id=client_id,
        purpose=Purpose.CARE,
        template=template,
        params={"occasion": "birthday_greeting:2027"},
    )


def dispatcher(
    deps: ActivityDeps,
    clock: Clock,
    sms: Channel,
    email: Channel | None = None,
    retry: RetryPolicy | None = None,
) -> Dispatcher:
    staff = StaffNotices()
    channels = {
        "sms": sms,
        "email": email or Unconfigured("email"),
        "internal": staff,
        "app": staff,
    }
    return Dispatcher(deps, channels, MessageCatalogue(), Policy(), retry=retry, clock=clock)


def test_a_committed_row_is_delivered_once_with_its_id_as_the_idempotency_key(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1")
    req = greeting()
    assert notifier.notify(req).status == "queued"
    d = dispatcher(deps, clock, SmsGateway(url, gw.token))
    assert d.deliver_due() == 1
    assert d.deliver_due() == 0
    assert list(gw.accepted) == [req.notification_id]
    body = gw.accepted[req.notification_id]
    assert body["to"] == PHONE and "王小明" in body["text"] and "生日快乐" in body["text"]
    row = outbox(deps.engine)[req.notification_id]
    assert (row.status, row.attempts, row.last_error, row.channel) == ("sent", 1, None, "sms")
    # Nothing personal was ever stored with the row: the name and number came at send time.
    assert "王小明" not in str(row.params) and "13812345678" not in str(row.params)


def test_a_dispatcher_dying_after_the_send_is_retried_under_the_same_key(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1")
    notifier.notify(greeting())
    sms = SmsGateway(url, gw.token)
    retry = RetryPolicy(claim_for=timedelta(minutes=2))
    first = dispatcher(deps, clock, sms, retry=retry)
    (claimed,) = first._claim()  # claims, sends, and dies before recording it
    sms.send(first._compose(claimed))
    clock.advance(timedelta(minutes=1))
    assert first.deliver_due() == 0  # the claim holds
    clock.advance(timedelta(minutes=2))
    assert dispatcher(deps, clock, sms, retry=retry).deliver_due() == 1
    assert len(gw.accepted) == 1 and gw.duplicates == 1  # one SMS; the retry was answered
    row = outbox(deps.engine)["client-C-1:7:care"]
    assert (row.status, row.attempts) == ("sent", 2)


def test_retries_back_off_and_the_final_failure_is_recorded_without_personal_data(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    gw.fail_status = 503
    client_file("C-1")
    notifier.notify(greeting())
    retry = RetryPolicy(max_attempts=4, first_backoff=timedelta(seconds=10))
    d = dispatcher(deps, clock, SmsGateway(url, gw.token), retry=retry)
    waits = []
    for _ in range(4):
        assert d.deliver_due() == 1
        row = outbox(deps.engine)["client-C-1:7:care"]
        if row.status == "queued":
            waits.append((row.next_attempt_at - clock()).total_seconds())
            clock.advance(timedelta(seconds=5))
            assert d.deliver_due() == 0  # not before its backoff
            clock.at = row.next_attempt_at
    assert waits == [10, 20, 40]
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "HTTP 503")
    gw.fail_status = None
    clock.advance(timedelta(hours=1))
    assert d.deliver_due() == 0 and gw.accepted == {}  # final: failed is not retried


def test_a_consent_withdrawn_after_queuing_stops_the_message(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1")
    client_file("C-2")
    notifier.notify(greeting("C-1"))
    notifier.notify(greeting("C-2"))
    client_file("C-1", consents={"granted": {"sms": ["service"]}})  # care withdrawn
    client_file("C-2", consents={"granted": {"sms": ["care"]}, "do_not_contact": True})
    assert notifier.notify(greeting("C-1", n=8)).status == "suppressed"  # a new one: at once
    dispatcher(deps, clock, SmsGateway(url, gw.token)).deliver_due()
    rows = outbox(deps.engine)
    assert {k: (r.status, r.suppressed_reason) for k, r in rows.items()} == {
        "client-C-1:7:care": ("suppressed", "consent withdrawn"),
        "client-C-2:7:care": ("suppressed", "consent withdrawn"),
        "client-C-1:8:care": ("suppressed", "no consent for care"),
    }
    assert gw.accepted == {}
    # A retried `notify` activity still answers what it decided at the time.
    assert notifier.notify(greeting("C-1")).status == "queued"


def _queued_at(deps: ActivityDeps, at: datetime) -> None:
    """As if the rows had been committed at `at` (the activity stamps the wall clock)."""
    with deps.engine.begin() as conn:
        queued = update(notifications).where(notifications.c.status == "queued")
        conn.execute(queued.values(created_at=at, next_attempt_at=at))


def test_the_contact_window_holds_messages_at_night_but_not_complaint_letters(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1", consents={"granted": {"sms": ["care", "events", "complaint"]}})
    night = Clock(datetime(2027, 3, 15, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    notifier.notify(greeting())
    invite = NotifyRequest(
        notification_id="event-EV-9:invite:C-1",
        workflow_id="event-EV-9",
        client_id="C-1",
        purpose=Purpose.EVENTS,
        template="event_invitation_outdoor",
        params={"event_id": "EV-9", "starts_at": "2027-04-02T06:00:00+00:00"},
    )
    notifier.notify(invite)
    ack = NotifyRequest(
        notification_id="complaint-CMP-1:1:complaint_acknowledged:client",
        workflow_id="complaint-CMP-1",
        client_id="C-1",
        purpose=Purpose.COMPLAINT,
        template="complaint_acknowledged",
        params={"complaint_id": "CMP-1", "sla_deadline": "2027-03-31T16:00:00+00:00"},
    )
    notifier.notify(ack)
    _queued_at(deps, night())
    d = dispatcher(deps, night, SmsGateway(url, gw.token))
    assert d.deliver_due() == 3
    assert list(gw.accepted) == [ack.notification_id]
    assert "2027-03-31" in gw.accepted[ack.notification_id]["text"]  # 24:00 of its last day
    rows = outbox(deps.engine)
    opens = datetime(2027, 3, 16, 1, 0, tzinfo=UTC)  # 09:00 the next morning
    held = rows[invite.notification_id]
    assert (held.status, held.attempts, held.next_attempt_at) == ("queued", 0, opens)
    # A greeting is for its day: by the morning it would be a day late, so it is dropped.
    dropped = rows["client-C-1:7:care"]
    assert (dropped.status, dropped.suppressed_reason) == ("suppressed", "greeting past its day")
    night.at = opens - timedelta(seconds=1)
    assert d.deliver_due() == 0
    night.at = opens
    assert d.deliver_due() == 1 and list(gw.accepted)[1] == invite.notification_id


def test_a_greeting_queued_before_the_window_opens_waits_for_it_the_same_day(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1")
    early = Clock(datetime(2027, 3, 14, 23, 0, tzinfo=UTC))  # 07:00 on 15 March in Shanghai
    notifier.notify(greeting())
    _queued_at(deps, early())
    d = dispatcher(deps, early, SmsGateway(url, gw.token))
    assert d.deliver_due() == 1 and gw.accepted == {}
    early.advance(timedelta(hours=2))
    assert d.deliver_due() == 1 and list(gw.accepted) == ["client-C-1:7:care"]


def test_the_clients_language_and_an_html_mail_that_escapes_what_is_filled_in(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file(
        "C-1",
        language="en",
        basic={"name": "Li <b>Lei</b>", "email": "li@example.com"},
        consents={"granted": {"email": ["events"]}},
    )
    with deps.engine.begin() as conn:
        conn.execute(
            client_events.insert().values(
                event_id="EV-1",
                kind="seminar",
                title="Macro outlook 2027",
                starts_at=datetime(2027, 4, 2, 6, 0, tzinfo=UTC),
                segment={},
                created_at=clock(),
            )
        )
    inbox, port = Inbox(), free_port()
    server = smtp_server(inbox, None, None, port)
    try:
        notifier.notify(
            NotifyRequest(
                notification_id="event-EV-1:invite:C-1",
                workflow_id="event-EV-1",
                client_id="C-1",
                purpose=Purpose.EVENTS,
                template="event_invitation_seminar",
                params={
                    "event_id": "EV-1",
                    "event_kind": "seminar",
                    "starts_at": "2027-04-02T06:00:00+00:00",
                },
            )
        )
        email = SmtpChannel("127.0.0.1", port, sender="care@firm.example", starttls=False)
        assert dispatcher(deps, clock, SmsGateway(url, gw.token), email).deliver_due() == 1
    finally:
        server.stop()
    (mail,) = inbox.messages
    assert inbox.recipients == [["li@example.com"]]
    assert mail["Subject"] == "Invitation to a seminar: Macro outlook 2027"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Dear Li <b>Lei</b>," in text and "2027-04-02 14:00" in text  # firm's local time
    assert "Dear Li &lt;b&gt;Lei&lt;/b&gt;," in html and "<b>" not in html
    assert outbox(deps.engine)["event-EV-1:invite:C-1"].status == "sent"


def _complaint(
    deps: ActivityDeps, events: list[tuple[int, str, dict[str, Any], dict[str, Any]]]
) -> None:
    cipher, now = deps.cipher, datetime(2027, 3, 1, tzinfo=UTC)
    with deps.engine.begin() as conn:
        conn.execute(
            complaints.insert().values(
                complaint_id="CMP-1",
                workflow_id="complaint-CMP-1",
                seq=9,
                client_id="C-1",
                channel="hotline",
                stage="follow_up",
                received_at=now,
                updated_at=now,
                complainant_enc=cipher.seal(
                    {"name": "王大明", "phone": "13900139000", "email": None},
                    context=sealing_context("complaints", "complainant_enc", "CMP-1"),
                ),
            )
        )
        for seq, kind, data, detail in events:
            ctx = sealing_context("complaint_events", "detail_enc", "complaint-CMP-1", seq)
            conn.execute(
                complaint_events.insert().values(
                    workflow_id="complaint-CMP-1",
                    seq=seq,
                    complaint_id="CMP-1",
                    kind=kind,
                    at=now,
                    data=data,
                    detail_enc=cipher.seal(detail, context=ctx),
                )
            )


def _letter(seq: int, template: str) -> NotifyRequest:
    return NotifyRequest(
        notification_id=f"complaint-CMP-1:{seq}:{template}:client",
        workflow_id="complaint-CMP-1",
        client_id="C-1",
        purpose=Purpose.COMPLAINT,
        template=template,
        channel=ContactChannel.PHONE,
        params={
            "complaint_id": "CMP-1",
            "sla_deadline": "2027-04-15T16:00:00+00:00",
            "outcome": None,
        },
    )


def test_the_decision_letter_and_the_extension_notice(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1", language="zh-CN")
    _complaint(
        deps,
        [
            (5, "extended", {"from": "x", "to": "y"}, {"reason": "需调取第三方对账单"}),
            (
                7,
                "resolved",
                {"owner": "staff-31", "due": "2027-04-20"},
                {"measures": "退还多收费用"},
            ),
        ],
    )
    notifier.notify(_letter(5, "complaint_extended"))
    notifier.notify(_letter(7, "complaint_resolution"))
    assert dispatcher(deps, clock, SmsGateway(url, gw.token)).deliver_due() == 2
    extended = gw.accepted["complaint-CMP-1:5:complaint_extended:client"]
    decision = gw.accepted["complaint-CMP-1:7:complaint_resolution:client"]
    # To the complainant on file for the complaint, by SMS (the client's phone consent).
    assert extended["to"] == "13900139000" and "尊敬的王大明" in extended["text"]
    assert "2027-04-15" in extended["text"] and "需调取第三方对账单" in extended["text"]
    text = decision["text"]
    assert "退还多收费用" in text and "2027-04-20" in text
    for route in ("核查", "调解", "仲裁", "诉讼", "2020年第3号令"):
        assert route in text
    rows = outbox(deps.engine)
    assert {r.status for r in rows.values()} == {"sent"}
    # The letters were queued on the phone channel the complaint came by; the SMS consent
    # carries them, as `Consents.allows` allows complaint correspondence on any granted channel.
    assert {r.channel for r in rows.values()} == {"sms"}


def test_staff_notices_and_an_unconfigured_channel(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
) -> None:
    client_file("C-1", consents={"granted": {"email": ["care"]}})
    notifier.notify(
        NotifyRequest(
            notification_id="client-C-1:9:service",
            workflow_id="client-C-1",
            client_id="C-1",
            recipient_kind="supervisor",
            recipient_id="supervision",
            purpose=Purpose.SERVICE,
            template="callback_overdue",
            params={"task_id": "client-C-1:callback:2027-03-01", "advisor_id": "adv-07"},
        )
    )
    notifier.notify(greeting())
    sent: list[Outgoing] = []

    class Recording(StaffNotices):
        def send(self, msg: Outgoing) -> None:
            sent.append(msg)

    d = Dispatcher(
        deps,
        {"internal": Recording(), "email": Unconfigured("email"), "sms": Unconfigured("sms")},
        MessageCatalogue(),
        Policy(),
        clock=clock,
    )
    assert d.deliver_due() == 2
    rows = outbox(deps.engine)
    assert rows["client-C-1:9:service"].status == "sent"
    assert "client-C-1:callback:2027-03-01" in sent[0].text and "adv-07" in sent[0].text
    failed = rows["client-C-1:7:care"]
    assert (failed.status, failed.last_error) == ("failed", "email channel not configured")


def test_the_outbox_listing_shows_a_failure_and_no_personal_data(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    gw.fail_status = 400  # final: not tried again
    client_file("C-1")
    notifier.notify(greeting())
    dispatcher(deps, clock, SmsGateway(url, gw.token)).deliver_due()
    listing = list_outbox(deps.engine, OutboxFilter(client_id="C-1", status="failed"))
    assert [(r["template"], r["attempts"], r["last_error"]) for r in listing] == [
        ("birthday_greeting", 1, "HTTP 400")
    ]
    assert "13812345678" not in str(listing) and "王小明" not in str(listing)


async def test_the_loop_outlives_a_failed_round_wakes_on_a_new_row_and_stops(
    deps: ActivityDeps,
    notifier: NotificationActivities,
    client_file: Callable[..., ClientFile],
    clock: Clock,
    gateway: tuple[Gateway, str],
) -> None:
    gw, url = gateway
    client_file("C-1")

    class FlakyOnce(Dispatcher):
        rounds = 0

        def deliver_due(self) -> int:
            FlakyOnce.rounds += 1
            if FlakyOnce.rounds == 1:
                raise OSError("database unreachable")
            return super().deliver_due()

    d = FlakyOnce(
        deps, {"sms": SmsGateway(url, gw.token)}, MessageCatalogue(), Policy(), clock=clock
    )
    woken = NotificationActivities(deps, d.notify_queued)
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run(stop, poll_interval=30))  # only a wake-up is quick
    await asyncio.sleep(0.3)
    woken.notify(greeting())
    for _ in range(50):
        if gw.accepted:
            break
        await asyncio.sleep(0.1)
    stop.set()
    d.notify_queued()
    await asyncio.wait_for(loop, 5)
    assert list(gw.accepted) == ["client-C-1:7:care"] and FlakyOnce.rounds >= 2
