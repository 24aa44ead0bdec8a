"""The dev stack's mail and SMS sinks (infra.dev_sinks): what the worker's channels send is filed
where a person can read it, an SMS retried under its key once, and the page survives a restart."""

from __future__ import annotations

from pathlib import Path

from aiosmtpd.controller import Controller

from activities.channels import Outgoing, SmsGateway, SmtpChannel
from infra.dev_sinks import Sinks, serve_sms
from infra.embedded_pg import free_port


def _msg(nid: str, channel: str, to: str) -> Outgoing:
    return Outgoing(
        notification_id=nid,
        template="birthday_greeting",
        channel=channel,
        to=to,
        subject="Happy <birthday>",
        text="Dear Li,\n\nHappy birthday!",
        html="<p>Dear Li,</p><p>Happy birthday!</p>",
        language="en",
    )


def test_sent_messages_are_filed_and_listed_across_a_restart(tmp_path: Path) -> None:
    sinks = Sinks(tmp_path)
    smtp_port = free_port()
    controller = Controller(sinks, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    sms_server = serve_sms(sinks, 0)
    try:
        SmtpChannel("127.0.0.1", smtp_port, sender="care@localhost", starttls=False).send(
            _msg("client-c-1:3:care", "email", "li@example.com")
        )
        gateway = SmsGateway(f"http://127.0.0.1:{sms_server.server_address[1]}/sms", "dev")
        sms = _msg("client-c-2:3:care", "sms", "+8613800138000")
        gateway.send(sms)
        gateway.send(sms)  # a retry under the same key: filed once
    finally:
        sms_server.shutdown()
        controller.stop()
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 1
    assert len((tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    page = (tmp_path / "mail" / "index.html").read_text(encoding="utf-8")
    assert "Happy &lt;birthday&gt;" in page and "SMS to +8613800138000" in page
    (html_part,) = (tmp_path / "mail" / "html").iterdir()
    assert "<p>Happy birthday!</p>" in html_part.read_text(encoding="utf-8")
    assert tmp_path.stat().st_mode & 0o777 == 0o700, "messages in clear: the owner's only"
    Sinks(tmp_path)  # the stack restarted
    again = (tmp_path / "mail" / "index.html").read_text(encoding="utf-8")
    assert again.count("<li>") == 2 and "Happy &lt;birthday&gt;" in again
