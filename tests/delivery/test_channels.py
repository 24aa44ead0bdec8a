"""The channels against real servers on loopback: e-mail to an aiosmtpd SMTP server (STARTTLS,
AUTH LOGIN), SMS to an HTTP gateway that checks the token and keys on `Idempotency-Key`."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from activities.channels import DeliveryError, Outgoing, SmsGateway, SmtpChannel, message_id
from infra.embedded_pg import free_port
from tests.delivery.servers import Credentials, Gateway, Inbox, smtp_server


def _msg(to: str | None, nid: str = "client-C-1:7:care") -> Outgoing:
    return Outgoing(
        notification_id=nid,
        template="birthday_greeting",
        channel="email",
        to=to,
        subject="生日快乐",
        text="尊敬的王小明：\n\n生日快乐！",
        html="<p>尊敬的王小明：</p><p>生日快乐！</p>",
        language="zh-CN",
    )


def test_email_over_starttls_with_credentials(certs: tuple[Path, Path]) -> None:
    cert, key = certs
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox, creds, port = Inbox(), Credentials("care", "s3cret-pass"), free_port()
    controller = smtp_server(inbox, server_tls, creds, port)
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        channel = SmtpChannel(
            "127.0.0.1",
            port,
            sender="Client Care <care@firm.example>",
            username="care",
            password="s3cret-pass",
            tls_context=client_tls,
        )
        channel.send(_msg("wang@example.cn"))
        wrong = SmtpChannel(
            "127.0.0.1",
            port,
            sender="care@firm.example",
            username="care",
            password="nope",
            tls_context=client_tls,
        )
        with pytest.raises(DeliveryError) as err:
            wrong.send(_msg("wang@example.cn", nid="client-C-1:8:care"))
    finally:
        controller.stop()
    assert creds.logins == 1 and "535" in err.value.code
    assert inbox.recipients == [["wang@example.cn"]]
    mail = inbox.messages[0]
    assert mail["Subject"] == "生日快乐" and mail["Message-ID"] == message_id("client-C-1:7:care")
    assert mail["Content-Language"] == "zh-CN"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "生日快乐！" in text and "<p>生日快乐！</p>" in html


def test_a_plain_server_refusing_starttls_is_a_retryable_failure(tmp_path: Path) -> None:
    inbox, port = Inbox(), free_port()
    controller = smtp_server(inbox, None, None, port)
    try:
        with pytest.raises(DeliveryError) as err:
            SmtpChannel("127.0.0.1", port, sender="care@firm.example").send(_msg("a@b.cn"))
        # Without STARTTLS (a relay on the same host, as the dev stack's sink) it is delivered.
        SmtpChannel("127.0.0.1", port, sender="care@firm.example", starttls=False).send(
            _msg("a@b.cn")
        )
    finally:
        controller.stop()
    assert err.value.retryable and "a@b.cn" not in err.value.code
    assert len(inbox.messages) == 1


def test_no_address_is_final() -> None:
    with pytest.raises(DeliveryError) as err:
        SmtpChannel("127.0.0.1", 1, sender="x@y.cn").send(_msg(None))
    assert not err.value.retryable


def test_sms_request_shape_token_and_idempotency_key(gateway: tuple[Gateway, str]) -> None:
    gw, url = gateway
    sms = SmsGateway(url, gw.token)
    msg = _msg("13812345678")
    sms.send(msg)
    sms.send(msg)  # a retry after a lost answer: the gateway answers from its key store
    assert gw.accepted == {
        msg.notification_id: {
            "to": "13812345678",
            "text": msg.text,
            "language": "zh-CN",
            "reference": msg.notification_id,
        }
    }
    assert gw.duplicates == 1
    with pytest.raises(DeliveryError) as err:
        SmsGateway(url, "wrong-token").send(msg)
    assert (err.value.code, err.value.retryable) == ("HTTP 401", False)
    gw.fail_status = 503
    with pytest.raises(DeliveryError) as err:
        sms.send(_msg("13812345678", nid="client-C-1:9:care"))
    assert (err.value.code, err.value.retryable) == ("HTTP 503", True)
    gw.fail_status = 429
    with pytest.raises(DeliveryError) as err:
        sms.send(_msg("13812345678", nid="client-C-1:9:care"))
    assert err.value.retryable
    gw.fail_status = 409  # the key was used already: the message is with the gateway
    sms.send(_msg("13812345678", nid="client-C-1:10:care"))


def test_an_unreachable_gateway_is_retryable() -> None:
    with pytest.raises(DeliveryError) as err:
        SmsGateway(f"http://127.0.0.1:{free_port()}/sms", None, timeout=2).send(_msg("138"))
    assert err.value.retryable
