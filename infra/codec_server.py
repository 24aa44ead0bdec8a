"""The codec server: decrypts payloads for the Temporal UI and `temporal` CLI (docs/security.md §4).

Temporal's remote codec protocol: `POST …/encode`, `POST …/decode` (only the last path segment
routes, for the CLI's per-namespace templating). The CLI authenticates with `Authorization:
Bearer <token>`; a browser cannot add that header to the UI's requests, so a person signs in once
at `/login` and the UI, with "Include cross-origin credentials", sends the SameSite=Strict session
cookie. Every decode is recorded (the `audit` hook) before any clear text leaves, and every
encode before its ciphertext is returned; see `DecodeAccess` for what a request cannot tell.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.common import MetricMeter

from domain.sealed import ERASED, SEALED, replace_tokens, tokens_in
from infra.codec import EncryptionCodec
from infra.keys import KeyRing, KeyRingError, PurposeRing, load_codec_token, load_payload_keys
from infra.settings import Settings
from infra.worklist import CSP as WORKLIST_CSP
from infra.worklist import Worklist
from projections.access import AccessAction, record_access

__all__ = ["DecodeAccess", "database_audit", "load_codec_token", "main", "make_app"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "cc_codec_session"
SESSION_TTL = timedelta(hours=8)
MAX_BODY = 8 * 1024 * 1024  # Temporal caps one payload at 2 MiB; a UI batch holds several
ALLOW_HEADERS = "authorization, content-type, x-namespace"
METRIC_REQUESTS = "client_care_codec_requests"
METRIC_PAYLOADS = "client_care_codec_payloads"


@dataclass(frozen=True)
class DecodeAccess:
    """What the audit hook is told about one encode or decode request (no payload content).

    What a request can tell: how it authenticated, the namespace (`X-Namespace`, which the UI
    and the CLI send), how many payloads, and whether a browser page sent it (an `Origin` of
    the UI) or the CLI (none). The protocol carries no workflow id (the UI sends none, and a
    browser sends a cross-origin request's Referer as the origin alone), but a payload bound to
    its place names its workflow in its authenticated context (infra.codec): `workflow_ids`
    are those of the payloads decoded, taken only once each has authenticated, and
    `client_ids` the clients whose sealed fields they hold (shown `[sealed]`, never opened).
    A payload written before payloads were bound names no workflow; the run it was decoded for
    stays unknown. Nothing tells the run."""

    via: str  # "bearer" or "session"
    namespace: str | None
    payloads: int
    undecryptable: int
    action: str = "decode"  # or "encode"
    caller: str = "cli"  # "ui": sent from a page of the UI's origin
    workflow_ids: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()


AuditHook = Callable[[DecodeAccess], Awaitable[None]]


class _Sessions:
    """Stateless expiring sessions: `<expiry>.<hmac(expiry)>` under a key derived from the token,
    so rotating the token ends every session."""

    def __init__(self, token: str, ttl: timedelta) -> None:
        self._key = hmac.new(token.encode(), b"codec-ui-session/v1", hashlib.sha256).digest()
        self.ttl = ttl

    def _mac(self, expiry: str) -> str:
        return hmac.new(self._key, expiry.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        expiry = str(int(time.time() + self.ttl.total_seconds()))
        return f"{expiry}.{self._mac(expiry)}"

    def valid(self, value: str) -> bool:
        expiry, _, mac = value.partition(".")
        if not expiry.isdigit() or not hmac.compare_digest(mac, self._mac(expiry)):
            return False
        return int(expiry) > time.time()


def _digest(value: str) -> bytes:
    # Compared as digests so the comparison takes the same time whatever the candidate's length.
    return hashlib.sha256(value.encode()).digest()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


_SIGN_IN_FIRST = """<!doctype html><meta charset="utf-8"><title>Sign in first</title>
<h1>Sign in first</h1><p>The worklist is for people signed in to the codec server:
<a href="login">sign in</a> with the codec token, then open the worklist again.</p>"""

_LOGIN_PAGE = """<!doctype html><meta charset="utf-8"><title>Client Care codec server</title>
<h1>Client Care codec server</h1><p>{message}</p>
<form method="post" action="login"><label>Codec token
<input name="token" type="password" autocomplete="off" required></label>
<button>Sign in</button></form>"""


def make_app(
    keyring: KeyRing | PurposeRing,
    token: str,
    cors_origin: str,
    *,
    audit: AuditHook | None = None,
    session_ttl: timedelta = SESSION_TTL,
    public_url: str | None = None,
    trust_forwarded: bool = False,
    meter: MetricMeter | None = None,
    worklist: Worklist | None = None,
    erased: ErasedLookup | None = None,
) -> web.Application:
    """`cors_origin`: the UI's origin (comma-separate several, e.g. localhost and 127.0.0.1).

    Behind a TLS-terminating proxy the request arrives as plain HTTP: the server's own origin
    (for its login form) and the session cookie's `Secure` flag then follow `public_url`, or,
    with `trust_forwarded`, the proxy's `X-Forwarded-Proto`/`X-Forwarded-Host`, which only a
    proxy that overwrites them may be trusted with. With a `meter`, requests are counted by
    action and status and decoded payloads by result (labels are those words only). With a
    `worklist`, `GET /worklist` serves the supervisor's worklist (infra/worklist.py) to the
    same people: a valid session cookie or the bearer token.

    Fields sealed under a client's own key (`domain.sealed` tokens inside a decoded payload)
    are never opened here (this server holds payload keys only): they are shown as `[sealed]`,
    or `[erased]` once `erased` says the client's key was destroyed. The people who may read
    them use `client show` or `auditor.py history`, which record whose file they read."""
    if not token:
        raise KeyRingError("the codec server needs a token")
    codec = EncryptionCodec(keyring)
    sessions = _Sessions(token, session_ttl)
    token_digest = _digest(token)
    origins = {o.strip().rstrip("/") for o in cors_origin.split(",") if o.strip()}
    public_origin = public_url.strip().rstrip("/") if public_url else None

    def own_origin(request: web.Request) -> str:
        if public_origin:
            return public_origin
        if trust_forwarded:
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            if proto in ("http", "https"):
                return f"{proto}://{host or request.host}"
        return f"{request.scheme}://{request.host}"

    def authenticated(request: web.Request) -> str | None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            _digest(credential.strip()), token_digest
        ):
            return "bearer"
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and sessions.valid(cookie):
            return "session"
        return None

    def cors(response: web.StreamResponse, origin: str | None) -> web.StreamResponse:
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
        return response

    requests = meter.create_counter(METRIC_REQUESTS, "codec server requests") if meter else None
    decoded_payloads = (
        meter.create_counter(METRIC_PAYLOADS, "payloads asked to decode, by result")
        if meter
        else None
    )

    @web.middleware
    async def counted(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if requests is not None:
            action = request.path.rstrip("/").rsplit("/", 1)[-1]
            action = action if action in ("encode", "decode", "login", "worklist") else "other"
            requests.add(1, {"action": action, "status": str(response.status)})
        return response

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        # Browsers send Origin on cross-origin requests: only the UI (and our own login form)
        # may use this server from a page; the CLI sends no Origin at all.
        if origin is not None and origin not in origins and origin != own_origin(request):
            return _error(403, "origin not allowed")
        if request.method == "OPTIONS":
            if origin not in origins:
                return _error(403, "origin not allowed")
            preflight = web.Response(status=204)
            preflight.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            preflight.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            preflight.headers["Access-Control-Max-Age"] = "600"
            return cors(preflight, origin)
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"  # decoded payloads are personal data
        response.headers["X-Content-Type-Options"] = "nosniff"
        return cors(response, origin)

    async def route(request: web.Request) -> web.StreamResponse:
        action = request.path.rstrip("/").rsplit("/", 1)[-1]
        if action == "login":
            return await login(request)
        if action == "worklist" and worklist is not None:
            return await worklist_page(request, worklist)
        if action not in ("encode", "decode"):
            return _error(404, "not found: POST …/encode or …/decode")
        if request.method != "POST":
            return _error(405, "use POST")
        via = authenticated(request)
        if via is None:
            response = _error(401, "missing or invalid codec token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="client-care-codec"'
            return response
        payloads = await read_payloads(request)
        if isinstance(payloads, web.Response):
            return payloads
        namespace = request.headers.get("X-Namespace")
        caller = "ui" if request.headers.get("Origin") in origins else "cli"
        if action == "encode":
            # Recorded too: an encode is someone preparing input for a workflow (e.g. the UI's
            # signal or update form), with personal data in it.
            refused = await audited(DecodeAccess(via, namespace, len(payloads), 0, action, caller))
            return refused or reply([codec.encrypt(p) for p in payloads])
        decoded, failed, workflows = decode_for_display(payloads, namespace)
        decoded, subjects = await masked(decoded)
        if decoded_payloads is not None:
            decoded_payloads.add(len(payloads) - failed, {"result": "decoded"})
            if failed:
                decoded_payloads.add(failed, {"result": "undecryptable"})
        event = DecodeAccess(
            via,
            namespace,
            len(payloads),
            failed,
            action,
            caller,
            workflow_ids=tuple(sorted(workflows)),
            client_ids=tuple(sorted(subjects)),
        )
        refused = await audited(event)
        return refused or reply(decoded)

    async def audited(event: DecodeAccess) -> web.Response | None:
        """None once the request is on record; else the refusal to send instead."""
        if audit is None:
            return None
        try:
            await audit(event)
        except Exception:
            log.exception("codec request refused: the access could not be recorded")
            return _error(503, f"the access could not be recorded; nothing was {event.action}d")
        return None

    async def read_payloads(request: web.Request) -> list[Payload] | web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict) or not isinstance(body.get("payloads"), list):
                raise ValueError
            message = json_format.ParseDict(body, Payloads())
        except (ValueError, json_format.ParseError):
            return _error(400, 'expected JSON {"payloads": [{"metadata": {...}, "data": "..."}]}')
        return list(message.payloads)

    def decode_for_display(
        payloads: list[Payload], namespace: str | None
    ) -> tuple[list[Payload], int, set[str]]:
        # For display, a payload that is not ours (or under a retired key) is shown as it is
        # rather than failing the whole page; it stays ciphertext, so nothing leaks. Each opens
        # under the place it is bound to (the request names no workflow); one bound to another
        # namespace than the page's `X-Namespace` is shown as ciphertext too.
        out: list[Payload] = []
        failed = 0
        workflows: set[str] = set()
        for payload in payloads:
            if not codec.is_encrypted(payload):
                out.append(payload)
                continue
            try:
                plain = codec.decrypt(payload)  # authenticates the place it names
                place = codec.place_of(payload)
                if place is not None and namespace and place.namespace != namespace:
                    raise KeyRingError(
                        f"payload bound to namespace {place.namespace!r} asked for from "
                        f"namespace {namespace!r}"
                    )
            except KeyRingError as err:
                failed += 1
                log.warning("codec server could not decrypt a payload: %s", err)
                out.append(payload)
                continue
            if place is not None:
                workflows.add(place.workflow_id)
            out.append(plain)
        return out, failed, workflows

    async def masked(payloads: list[Payload]) -> tuple[list[Payload], set[str]]:
        values: list[Any] = []
        for p in payloads:
            value: Any = None
            if p.metadata.get("encoding") == b"json/plain":
                try:
                    value = json.loads(p.data)
                except ValueError:
                    value = None
            values.append(value)
        subjects = {t.subject for t in tokens_in(values)}
        if not subjects:
            return payloads, subjects
        gone = await erased(subjects) if erased is not None else set()
        out: list[Payload] = []
        for p, value in zip(payloads, values, strict=True):
            if value is None or not tokens_in(value):
                out.append(p)
                continue
            shown = replace_tokens(value, lambda t: ERASED if t.subject in gone else SEALED)
            data = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode()
            out.append(Payload(metadata=dict(p.metadata), data=data))
        return out, subjects

    def reply(payloads: list[Payload]) -> web.Response:
        return web.json_response(
            {"payloads": [json_format.MessageToDict(p) for p in payloads]},
            dumps=lambda obj: json.dumps(obj, separators=(",", ":")),
        )

    async def login(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return page(200, "Paste the codec token to let this browser decode payloads.")
        if request.method != "POST":
            return _error(405, "use GET or POST")
        form = await request.post()
        candidate = str(form.get("token", ""))
        if not hmac.compare_digest(_digest(candidate.strip()), token_digest):
            return page(401, "That token is not valid.")
        response = page(
            200,
            "Signed in. In the Temporal UI's codec server settings, use this server's URL and "
            "tick “Include cross-origin credentials”.",
            after='<p><a href="worklist">Open the supervisor\'s worklist</a></p>'
            if worklist is not None
            else "",
        )
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(),
            max_age=int(sessions.ttl.total_seconds()),
            httponly=True,
            samesite="Strict",
            secure=request.secure or own_origin(request).startswith("https://"),
            path="/",
        )
        return response

    async def worklist_page(request: web.Request, wl: Worklist) -> web.StreamResponse:
        if request.method != "GET":
            return _error(405, "use GET")
        via = authenticated(request)
        if via is None:
            response = web.Response(
                status=401,
                text=_SIGN_IN_FIRST,
                content_type="text/html",
                headers={"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"},
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="client-care-codec"'
            return response
        # Sessions are bearer tokens of one shared secret, not of a person: the actor tells
        # sessions apart (a digest of the cookie, which cannot be turned back into it).
        cookie = request.cookies.get(SESSION_COOKIE, "")
        actor = (
            f"codec:session:{hashlib.sha256(cookie.encode()).hexdigest()[:12]}"
            if via == "session"
            else "codec:bearer"
        )
        status, body = await wl.page(dict(request.query), actor)
        response = web.Response(status=status, text=body, content_type="text/html")
        response.headers["Content-Security-Policy"] = WORKLIST_CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def page(status: int, message: str, after: str = "") -> web.Response:
        response = web.Response(
            status=status,
            text=_LOGIN_PAGE.format(message=html.escape(message)) + after,
            content_type="text/html",
        )
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        return response

    app = web.Application(middlewares=[counted, guard], client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", route)
    return app


ErasedLookup = Callable[[set[str]], Awaitable[set[str]]]
"""Which of these clients' data keys were destroyed (PIPL erasure)."""


def database_erased(engine: Engine) -> ErasedLookup:
    """Asks `subject_keys`, whose `subject_id` and `destroyed_at` the codec role may read."""
    from projections.subject_keys import erased_subjects

    async def lookup(subjects: set[str]) -> set[str]:
        return await asyncio.to_thread(erased_subjects, engine, subjects)

    return lookup


def database_audit(engine: Engine, actor_prefix: str = "codec") -> AuditHook:
    """An audit hook writing one access_log row per encode or decode request."""

    def write(event: DecodeAccess) -> None:
        action = (
            AccessAction.CODEC_ENCODE if event.action == "encode" else AccessAction.CODEC_DECODE
        )
        purpose = (
            f"{event.payloads} payload(s), namespace {event.namespace or '?'}, "
            f"from {event.caller}"
            + (f", {event.undecryptable} not decryptable" if event.undecryptable else "")
        )
        # One row per workflow and client the request read (as `auditor.py history` writes
        # them), each with the whole request's purpose; one row alone if it names none.
        workflows, clients = event.workflow_ids, event.client_ids
        rows: list[tuple[str | None, str | None]]
        if len(workflows) <= 1:
            rows = [(workflows[0] if workflows else None, c) for c in clients or [None]]
        else:
            rows = [(w, None) for w in workflows] + [(None, c) for c in clients]
        with engine.begin() as conn:
            for workflow_id, client_id in rows:
                record_access(
                    conn,
                    actor=f"{actor_prefix}:{event.via}",
                    action=action,
                    client_id=client_id,
                    workflow_id=workflow_id,
                    purpose=purpose,
                )

    async def record(event: DecodeAccess) -> None:
        await asyncio.to_thread(write, event)

    return record


def _worklist(settings: Settings, engine: Engine) -> Worklist:
    """The worklist of the namespace the settings name, linking to the UI at the (first) CORS
    origin; its Temporal client is connected at the first view, without the payload codec."""
    from infra.policy_file import policy_from_settings
    from infra.temporal import tls_config
    from infra.worklist import connect_visibility, policy_in_force

    file_policy = policy_from_settings(settings)
    connected: list[Client] = []
    lock = asyncio.Lock()

    async def client() -> Client:
        async with lock:
            if not connected:
                connected.append(
                    await connect_visibility(
                        settings.temporal_address,
                        settings.temporal_namespace,
                        tls=tls_config(settings),
                        api_key=settings.temporal_api_key,
                    )
                )
            return connected[0]

    return Worklist(
        client=client,
        engine=engine,
        policy=lambda now: policy_in_force(engine, file_policy, now),
        namespace=settings.temporal_namespace,
        ui_url=settings.codec_cors_origin.split(",")[0].strip(),
    )


def main(argv: list[str] | None = None) -> None:
    from infra.database import database_url, make_engine
    from infra.logging import configure_logging
    from infra.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m infra.codec_server", description=__doc__)
    parser.add_argument("--host", help="listen address (default: CODEC_SERVER_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: CODEC_SERVER_PORT)")
    parser.add_argument(
        "--no-audit", action="store_true", help="do not record decodes in access_log (tests only)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(fmt=settings.log_format)
    try:
        keyring = load_payload_keys(settings)
        # Creating the dev token is never unsafe: an unknown random token locks everyone out
        # until they read it from the file.
        token = load_codec_token(settings, create_dev_token=True)
    except KeyRingError as err:
        raise SystemExit(f"codec server: {err}") from None
    engine = None if args.no_audit else make_engine(database_url(settings))
    audit = None if engine is None else database_audit(engine)
    # No access log, no worklist: a page that cannot be recorded is not shown.
    worklist = None if engine is None else _worklist(settings, engine)
    host = args.host or settings.codec_server_host
    port = args.port or settings.codec_server_port
    log.info(
        "codec server listening",
        extra={
            "url": settings.codec_public_url or f"http://{host}:{port}",
            "cors_origin": settings.codec_cors_origin,
        },
    )
    meter = None
    if settings.metrics_bind_address:
        from temporalio.runtime import Runtime, TelemetryConfig

        from infra.metrics import prometheus

        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=prometheus(settings.metrics_bind_address))
        )
        meter = runtime.metric_meter
    app = make_app(
        keyring,
        token,
        settings.codec_cors_origin,
        audit=audit,
        public_url=settings.codec_public_url,
        trust_forwarded=settings.codec_trust_forwarded,
        meter=meter,
        worklist=worklist,
        erased=None if engine is None else database_erased(engine),
    )
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
    )


if __name__ == "__main__":
    main()
