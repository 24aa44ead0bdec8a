"""Real servers on loopback for the channel tests: an SMTP server (aiosmtpd) with STARTTLS and
AUTH, and an SMS gateway (http.server) that deduplicates on `Idempotency-Key` as a real one does
and can be told to fail."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key, written to `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Inbox:
    """aiosmtpd handler: keeps every accepted message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        self.messages.append(msg)  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class Credentials:
    def __init__(self, user: str, password: str) -> None:
        self._user, self._password = user.encode(), password.encode()
        self.logins = 0

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self._user,
            self._password,
        )
        self.logins += ok
        return AuthResult(success=ok, handled=False)


@dataclass
class Gateway:
    """The SMS gateway's state: what it accepted (once per key) and how it should answer."""

    token: str = "gw-token-1234"
    fail_status: int | None = None
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused_auth: int = 0
    refused: int = 0

    @property
    def duplicates(self) -> int:
        """Requests the gateway answered from its key store: a retry of a delivered message."""
        with self.lock:
            return sum(n - 1 for key, n in self.requests.items() if key in self.accepted and n > 1)


def serve_gateway(gw: Gateway) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Authorization") != f"Bearer {gw.token}":
                gw.refused_auth += 1
                self._answer(401, {"error": "unauthorised"})
                return
            key = self.headers.get("Idempotency-Key", "")
            with gw.lock:
                if gw.fail_status is not None:
                    gw.refused += 1
                    self._answer(gw.fail_status, {"error": "unavailable"})
                    return
                gw.requests[key] += 1
                if key not in gw.accepted:
                    gw.accepted[key] = json.loads(body)
            self._answer(200, {"message_id": key})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def smtp_server(inbox: Inbox, tls: Any, credentials: Credentials | None, port: int) -> Controller:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=tls is not None,
        authenticator=credentials,
        auth_required=credentials is not None,
    )
    controller.start()
    return controller
