"""The dev stack's stand-ins for the firm's mail server and SMS gateway, so a person can read
what the worker sent: `python -m infra.dev_sinks DIR SMTP_PORT SMS_PORT`.

- an SMTP server (aiosmtpd) on 127.0.0.1:SMTP_PORT that files every message in the Maildir
  `DIR/mail/` and rewrites `DIR/mail/index.html`, a page listing them newest first, each
  message's HTML part beside it;
- an SMS gateway on 127.0.0.1:SMS_PORT speaking the request shape `activities.channels.SmsGateway`
  documents (any bearer token; deduplicates on `Idempotency-Key`), appending each accepted SMS
  to `DIR/sms.jsonl` and to the same page.

Dev only (aiosmtpd is a dev dependency): the demo's people are invented, and these files are
under `.data/`, which `make run` owns. They hold what was sent as its recipient would get it:
the address, the name in the greeting, the text, in clear, since a mail server or an SMS
gateway is given nothing else (the dispatcher opens the sealed fields to send). Sealing or
masking them here would hide the very thing the sinks are for, so instead the directory is
the owner's alone (0700: nothing under it is readable by anyone else), and an erasure does not
reach it, as it does not reach a message already delivered (docs/security.md §8).
"""

from __future__ import annotations

import html
import json
import mailbox
import sys
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Sinks:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mail_dir = directory / "mail"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)  # what was sent, in clear: the owner's alone
        self.maildir = mailbox.Maildir(self.mail_dir, create=True)
        for sub in ("tmp", "new", "cur", "html"):  # Maildir makes them only for a new folder
            (self.mail_dir / sub).mkdir(exist_ok=True)
        self.sms_file = directory / "sms.jsonl"
        self._lock = threading.Lock()
        self._entries: list[str] = []
        self._seen_keys: set[str] = set()
        self._reload()
        self._write_index()

    def _reload(self) -> None:
        """What earlier runs of the stack filed, so the page lists it after a restart."""
        for key, raw in sorted(self.maildir.items(), key=lambda kv: kv[1].get_date()):
            msg = message_from_bytes(raw.as_bytes(), policy=policy.default)
            self._entries.insert(0, self._mail_entry(key, str(msg["To"]), str(msg["Subject"])))
        if self.sms_file.exists():
            for line in self.sms_file.read_text(encoding="utf-8").splitlines():
                sms = json.loads(line)
                self._seen_keys.add(sms.get("key", ""))
                self._entries.insert(0, self._sms_entry(sms.get("at", ""), sms))

    @staticmethod
    def _mail_entry(key: str, to: str, subject: str, at: str | None = None) -> str:
        return (
            f"<li>{at or ''} e-mail to {html.escape(to)} · "
            f'<a href="html/{key}.html">{html.escape(subject)}</a></li>'
        )

    @staticmethod
    def _sms_entry(at: str, body: dict[str, Any]) -> str:
        return (
            f"<li>{html.escape(at)} · SMS to {html.escape(str(body.get('to')))} · "
            f"<pre>{html.escape(str(body.get('text')))}</pre></li>"
        )

    # aiosmtpd handler
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            key = self.maildir.add(raw)
            part = msg.get_body(("html",))
            page = self.mail_dir / "html" / f"{key}.html"
            page.write_text(part.get_content() if part else "", encoding="utf-8")
            to = ", ".join(envelope.rcpt_tos)
            self._entries.insert(0, self._mail_entry(key, to, str(msg["Subject"]), _now() + " ·"))
            self._write_index()
        return "250 OK: filed"

    def accept_sms(self, key: str, body: dict[str, Any]) -> None:
        with self._lock:
            if key in self._seen_keys:
                return
            self._seen_keys.add(key)
            with self.sms_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"at": _now(), "key": key, **body}, ensure_ascii=False) + "\n")
            self._entries.insert(0, self._sms_entry(_now(), body))
            self._write_index()

    def _write_index(self) -> None:
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Client Care: sent messages'
            '</title><meta http-equiv="refresh" content="10"></head><body style="font-family: '
            'sans-serif"><h1>Messages the dev stack sent</h1><ul>'
            + "".join(self._entries)
            + "</ul></body></html>"
        )
        (self.mail_dir / "index.html").write_text(page, encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def serve_sms(sinks: Sinks, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            sinks.accept_sms(self.headers.get("Idempotency-Key", ""), body)
            data = b'{"status": "accepted"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    from aiosmtpd.controller import Controller

    directory, smtp_port, sms_port = Path(argv[0]), int(argv[1]), int(argv[2])
    sinks = Sinks(directory)
    controller = Controller(sinks, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    sms = serve_sms(sinks, sms_port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sms.shutdown()
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
