"""How a rendered message leaves the firm: e-mail over SMTP, SMS through an HTTP gateway, and
notices to staff (and in-app notices), which stay records in the firm's own systems.

Every channel is given the outbox's `notification_id` as the message's identity: the SMS gateway
receives it as the `Idempotency-Key` header, so a delivery retried after a lost answer is the
same message to the gateway and reaches the phone once. SMTP has no such key: the e-mail carries
a `Message-ID` derived from it (mail clients fold duplicates), and a retry happens only when the
server did not accept the message (see README, "Messages and delivery").

A `DeliveryError` says whether trying again can help; its `code` is what is recorded on the
outbox row: an exception class and a status, never a server's message text, which may echo an
address or a phone number.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Protocol

from infra.logging import get_logger
from infra.settings import Settings

log = get_logger("delivery")


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    template: str
    channel: str
    to: str | None
    """The address, phone number or staff id, decrypted at send time; never logged."""
    subject: str
    text: str
    html: str
    language: str


class DeliveryError(Exception):
    def __init__(self, code: str, *, retryable: bool) -> None:
        super().__init__(code)
        self.code = code[:200]
        self.retryable = retryable


class Channel(Protocol):
    def send(self, msg: Outgoing) -> None: ...


def message_id(notification_id: str) -> str:
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    return f"<{digest}@client-care>"


class SmtpChannel:
    """E-mail over SMTP: STARTTLS (by default) before the credentials, text and HTML parts."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 20.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._starttls, self._username, self._password = starttls, username, password
        self._timeout = timeout
        self._tls = tls_context or ssl.create_default_context()

    def send(self, msg: Outgoing) -> None:
        if not msg.to:
            raise DeliveryError("no e-mail address on file", retryable=False)
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = formataddr(("", msg.to))
        mail["Subject"] = msg.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(msg.notification_id)
        mail.set_content(msg.text)
        mail.add_alternative(msg.html, subtype="html")
        mail["Content-Language"] = msg.language  # after the body: set_content drops Content-*
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._tls)
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"SMTPRecipientsRefused {codes}", retryable=all(400 <= c < 500 for c in codes)
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"SMTPAuthenticationError {exc.smtp_code}", retryable=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise DeliveryError(
                f"{type(exc).__name__} {code}", retryable=not 500 <= code < 600
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(type(exc).__name__, retryable=True) from None


class SmsGateway:
    """SMS through the gateway's HTTP API.

    `POST <url>` with `Authorization: Bearer <token>`, `Idempotency-Key: <notification_id>` and
    the JSON body `{"to": "+8613800138000", "text": "...", "language": "zh-CN", "reference":
    "<notification_id>"}`. A 2xx (or 409: the key was already used, so the message is already
    with the gateway) is delivered; 408, 425, 429 and 5xx are tried again later; any other
    status is final.
    """

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        self._url, self._token, self._timeout = url, token, timeout

    def send(self, msg: Outgoing) -> None:
        if not msg.to:
            raise DeliveryError("no mobile number on file", retryable=False)
        body = json.dumps(
            {
                "to": msg.to,
                "text": msg.text,
                "language": msg.language,
                "reference": msg.notification_id,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": msg.notification_id,
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status == 409:
                return
            retryable = status in (408, 425, 429) or status >= 500
            raise DeliveryError(f"HTTP {status}", retryable=retryable) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(type(exc).__name__, retryable=True) from None


class StaffNotices:
    """Notices to staff and in-app notices: recorded in the firm's systems (the log line names
    the template and channel only), as before this module existed."""

    def send(self, msg: Outgoing) -> None:
        log.info("notice recorded", channel=msg.channel, template=msg.template)


class Unconfigured:
    """A channel with no gateway configured: every message on it fails, visibly, at once."""

    def __init__(self, name: str) -> None:
        self._name = name

    def send(self, msg: Outgoing) -> None:
        raise DeliveryError(f"{self._name} channel not configured", retryable=False)


def channels_from(settings: Settings) -> dict[str, Channel]:
    email: Channel = (
        SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
        )
        if settings.smtp_host
        else Unconfigured("email")
    )
    sms: Channel = (
        SmsGateway(
            settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_gateway_timeout
        )
        if settings.sms_gateway_url
        else Unconfigured("sms")
    )
    staff = StaffNotices()
    return {
        "email": email,
        "sms": sms,
        "internal": staff,
        "app": staff,
        "phone": staff,
        "post": staff,
    }
