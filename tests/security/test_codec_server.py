"""The codec server over real HTTP on a free port: auth, CORS for the UI, sessions, the protocol,
the access record, and the `temporal` CLI decoding a real history through it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from infra.binaries import temporal_cli
from infra.codec import EncryptionCodec
from infra.codec_server import DecodeAccess, database_audit, make_app
from infra.embedded_pg import free_port
from infra.keys import KeyRing, new_key_entry
from infra.settings import ROOT
from projections.tables import access_log
from tests.security.conftest import probe_worker
from tests.security.probe_app import Person, ProbeInput
from tests.security.probe_workflows import PiiProbeWorkflow

TOKEN = "codec-test-token-" + "x" * 24
UI = "http://localhost:8233"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'"13812345678"')


def _body(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def _payloads(body: dict) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in body["payloads"]]


@pytest.fixture
def audited() -> list[DecodeAccess]:
    return []


@pytest.fixture
async def server(keyring: KeyRing, audited: list[DecodeAccess]) -> AsyncIterator[TestServer]:
    async def audit(event: DecodeAccess) -> None:
        audited.append(event)

    async with TestServer(make_app(keyring, TOKEN, UI, audit=audit), host="127.0.0.1") as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe jar: cookies for 127.0.0.1 (an IP address) are kept, as a browser keeps them
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def test_round_trip_with_the_bearer_token(
    server: TestServer, http: aiohttp.ClientSession, audited: list[DecodeAccess]
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    async with http.post(server.make_url("/encode"), json=_body(PLAIN), headers=auth) as resp:
        assert resp.status == 200
        [sealed] = _payloads(await resp.json())
    assert EncryptionCodec.is_encrypted(sealed)
    assert b"13812345678" not in sealed.data
    # only the last path segment routes: the CLI templates endpoints per namespace
    async with http.post(
        server.make_url("/default/decode"), json=_body(sealed, PLAIN), headers=auth
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert _payloads(await resp.json()) == [PLAIN, PLAIN]
    # Both directions are on record; no Origin: the CLI (or a script), not the UI.
    assert audited == [
        DecodeAccess("bearer", "default", 1, 0, action="encode", caller="cli"),
        DecodeAccess("bearer", "default", 2, 0, action="decode", caller="cli"),
    ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
    ids=["none", "wrong-token", "no-scheme", "basic"],
)
async def test_unauthenticated_requests_get_401_and_nothing_else(
    server: TestServer,
    http: aiohttp.ClientSession,
    audited: list[DecodeAccess],
    headers: dict[str, str],
) -> None:
    for action in ("decode", "encode"):
        async with http.post(
            server.make_url(f"/{action}"), json=_body(PLAIN), headers=headers
        ) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "payloads" not in await r.json()
    assert audited == []


async def test_cors_preflight_allows_only_the_ui(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-namespace",
    }
    async with http.options(server.make_url("/decode"), headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == UI
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "x-namespace"} <= allowed
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]

    evil = {**preflight, "Origin": "https://evil.example"}
    async with http.options(server.make_url("/decode"), headers=evil) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers

    # a page from another origin is refused even when it holds a valid token
    headers = {"Origin": "https://evil.example", "Authorization": f"Bearer {TOKEN}"}
    async with http.post(server.make_url("/decode"), json=_body(PLAIN), headers=headers) as r:
        assert r.status == 403
        assert "Access-Control-Allow-Origin" not in r.headers

    # the UI's own 401 carries CORS headers, so the UI can show why
    async with http.post(
        server.make_url("/decode"), json=_body(PLAIN), headers={"Origin": UI}
    ) as r:
        assert r.status == 401
        assert r.headers["Access-Control-Allow-Origin"] == UI


async def test_a_browser_signs_in_once_and_the_ui_sends_the_cookie(
    server: TestServer, http: aiohttp.ClientSession, keyring: KeyRing, audited: list[DecodeAccess]
) -> None:
    sealed = EncryptionCodec(keyring).encrypt(PLAIN)
    async with http.get(server.make_url("/login")) as resp:
        assert resp.status == 200
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert 'name="token"' in await resp.text()
    async with http.post(server.make_url("/login"), data={"token": "wrong"}) as resp:
        assert resp.status == 401
        assert "cc_codec_session" not in resp.cookies
    async with http.post(server.make_url("/login"), data={"token": TOKEN}) as resp:
        assert resp.status == 200
        cookie = resp.cookies["cc_codec_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert TOKEN not in cookie.value
    headers = {"Origin": UI, "X-Namespace": "default"}
    async with http.post(server.make_url("/decode"), json=_body(sealed), headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == UI
        assert _payloads(await resp.json()) == [PLAIN]
    assert audited == [DecodeAccess("session", "default", 1, 0, caller="ui")]

    forged = cookie.value.split(".")[0] + "." + "0" * 64
    http.cookie_jar.clear()
    http.cookie_jar.update_cookies({"cc_codec_session": forged}, server.make_url("/"))
    async with http.post(server.make_url("/decode"), json=_body(sealed), headers=headers) as resp:
        assert resp.status == 401


async def test_an_expired_session_is_refused(keyring: KeyRing, http: aiohttp.ClientSession) -> None:
    app = make_app(keyring, TOKEN, UI, session_ttl=timedelta(0))
    async with TestServer(app, host="127.0.0.1") as srv:
        async with http.post(srv.make_url("/login"), data={"token": TOKEN}) as resp:
            assert resp.status == 200
        async with http.post(srv.make_url("/decode"), json=_body(PLAIN)) as resp:
            assert resp.status == 401


async def test_unrecordable_access_means_no_decode(keyring: KeyRing) -> None:
    async def broken(_event: DecodeAccess) -> None:
        raise RuntimeError("database down")

    sealed = EncryptionCodec(keyring).encrypt(PLAIN)
    app = make_app(keyring, TOKEN, UI, audit=broken)
    async with TestServer(app, host="127.0.0.1") as srv, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(srv.make_url("/decode"), json=_body(sealed), headers=headers) as r:
            assert r.status == 503
            assert b"13812345678" not in await r.read()


async def test_foreign_and_malformed_input(
    server: TestServer, http: aiohttp.ClientSession, audited: list[DecodeAccess]
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    foreign = EncryptionCodec(KeyRing.parse(new_key_entry("elsewhere"))).encrypt(PLAIN)
    async with http.post(server.make_url("/decode"), json=_body(foreign), headers=auth) as resp:
        assert resp.status == 200
        assert _payloads(await resp.json()) == [foreign]  # shown as it is, still ciphertext
    assert audited[-1].undecryptable == 1
    for bad in (
        {"payload": []},
        [1, 2],
        {"payloads": [{"metadata": "x"}]},
        {"payloads": [{"x": 1}]},
    ):
        async with http.post(server.make_url("/decode"), json=bad, headers=auth) as resp:
            assert resp.status == 400
    async with http.post(server.make_url("/decode"), data=b"not json", headers=auth) as resp:
        assert resp.status == 400
    async with http.get(server.make_url("/decode"), headers=auth) as resp:
        assert resp.status == 405
    async with http.post(server.make_url("/other"), headers=auth) as resp:
        assert resp.status == 404


def test_database_audit_writes_access_log(db: Engine) -> None:
    record = database_audit(db)
    asyncio.run(record(DecodeAccess("bearer", "default", 3, 1)))
    with db.connect() as conn:
        row = conn.execute(select(access_log)).one()
    assert (row.actor, row.action) == ("codec:bearer", "codec-decode")
    assert row.purpose == "3 payload(s), namespace default, from cli, 1 not decryptable"
    assert row.row_hash is not None  # in the access log's hash chain


def test_database_audit_records_encodes_too(db: Engine) -> None:
    record = database_audit(db)
    asyncio.run(record(DecodeAccess("session", "ns-2", 1, 0, action="encode", caller="ui")))
    with db.connect() as conn:
        row = conn.execute(select(access_log)).one()
    assert (row.actor, row.action) == ("codec:session", "codec-encode")
    assert row.purpose == "1 payload(s), namespace ns-2, from ui"


async def test_main_serves_with_settings_from_the_environment(keyring: KeyRing) -> None:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "CLIENT_CARE_KEYS": new_key_entry("main1"),
        "CODEC_SERVER_TOKEN": TOKEN,
        "CODEC_SERVER_PORT": str(port),
        "LOG_FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infra.codec_server", "--no-audit", cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/encode"
            for _ in range(100):
                try:
                    async with http.post(url, json=_body(PLAIN)) as resp:
                        assert resp.status == 401
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the codec server did not start")
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(url, json=_body(PLAIN), headers=headers) as resp:
                [sealed] = _payloads(await resp.json())
                assert EncryptionCodec.key_id(sealed) == "main1"
    finally:
        proc.terminate()
        await proc.wait()


async def test_main_refuses_a_weak_token() -> None:
    env = {"PATH": os.environ["PATH"], "CODEC_SERVER_TOKEN": "short"}
    env["CLIENT_CARE_KEYS"] = new_key_entry("k")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infra.codec_server", "--no-audit", cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode != 0
    assert b"at least 32 characters" in err


async def _cli_show(env: WorkflowEnvironment, workflow_id: str, endpoint: str, *auth: str):
    proc = await asyncio.create_subprocess_exec(
        temporal_cli(), "workflow", "show", "--workflow-id", workflow_id, "--output", "json",
        "--address", env.client.service_client.config.target_host,
        "--namespace", env.client.namespace, "--codec-endpoint", endpoint, *auth,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out, err


def _payload_texts(history_json: bytes) -> list[bytes]:
    """Every payload's data in a `temporal workflow show --output json` export, decoded."""
    found: list[bytes] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node and isinstance(node["data"], str):
                found.append(base64.b64decode(node["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return found


async def test_temporal_cli_decodes_a_history_through_the_codec_server(
    dev_env: WorkflowEnvironment,
    server: TestServer,
    task_queue: str,
    person: Person,
    audited: list[DecodeAccess],
) -> None:
    workflow_id = f"codec-cli-{uuid.uuid4().hex[:8]}"
    async with probe_worker(dev_env.client, task_queue):
        await dev_env.client.start_workflow(
            PiiProbeWorkflow.run,
            ProbeInput(client_id="C-CLI", person=person),
            id=workflow_id,
            task_queue=task_queue,
        )
    endpoint = str(server.make_url(""))

    # without the token the CLI gets 401s, retries, and gives up without showing anything
    code, out, _err = await _cli_show(dev_env, workflow_id, endpoint, "--command-timeout", "3s")
    assert code != 0
    assert person.phone.encode() not in out
    assert audited == []

    code, out, err = await _cli_show(
        dev_env, workflow_id, endpoint, "--codec-auth", f"Bearer {TOKEN}"
    )
    assert code == 0, err.decode()
    texts = _payload_texts(out)
    assert any(person.phone.encode() in t for t in texts)
    assert any(person.id_number.encode() in t for t in texts)
    assert b"binary/encrypted" not in out and b"YmluYXJ5L2VuY3J5cHRlZA" not in out
    assert audited and all(a.via == "bearer" for a in audited)
    await dev_env.client.get_workflow_handle(workflow_id).terminate()


# --- payloads bound to their place ------------------------------------------------------------


def _bound(keyring: KeyRing, namespace: str, workflow_id: str) -> Payload:
    from temporalio.converter import WorkflowSerializationContext

    codec = EncryptionCodec(keyring).with_context(
        WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)
    )
    return codec.encrypt(PLAIN)


async def test_decode_opens_each_payload_in_its_own_place_and_records_the_workflows(
    server: TestServer, http: aiohttp.ClientSession, audited: list[DecodeAccess], keyring: KeyRing
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    legacy = EncryptionCodec(keyring).encrypt(PLAIN)  # written before payloads were bound
    payloads = [
        _bound(keyring, "default", "complaint-CP-9"),
        _bound(keyring, "default", "client-c-1"),
        _bound(keyring, "default", "client-c-1"),
        legacy,
    ]
    async with http.post(server.make_url("/decode"), json=_body(*payloads), headers=auth) as resp:
        assert resp.status == 200
        assert _payloads(await resp.json()) == [PLAIN] * 4
    # the workflows named by the payloads' authenticated places, not by anything the caller said
    assert audited == [
        DecodeAccess(
            "bearer", "default", 4, 0, workflow_ids=("client-c-1", "complaint-CP-9"), caller="cli"
        )
    ]


async def test_a_payload_of_another_namespace_or_a_forged_place_stays_ciphertext(
    server: TestServer, http: aiohttp.ClientSession, audited: list[DecodeAccess], keyring: KeyRing
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    foreign = _bound(keyring, "other-ns", "client-c-1")
    forged = _bound(keyring, "default", "client-c-1")
    forged.metadata["encryption-context"] = b"default\0client-c-2"
    async with http.post(
        server.make_url("/decode"), json=_body(foreign, forged), headers=auth
    ) as resp:
        assert resp.status == 200
        assert _payloads(await resp.json()) == [foreign, forged]
    assert audited == [DecodeAccess("bearer", "default", 2, 2)]
    # without X-Namespace (a script) the payload opens in the namespace it names
    async with http.post(
        server.make_url("/decode"),
        json=_body(foreign),
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        assert _payloads(await resp.json()) == [PLAIN]
    assert audited[-1] == DecodeAccess("bearer", None, 1, 0, workflow_ids=("client-c-1",))


def test_database_audit_names_the_workflows_and_clients_read(db: Engine) -> None:
    record = database_audit(db)
    one = DecodeAccess(
        "session", "default", 3, 0, caller="ui", workflow_ids=("client-c-1",), client_ids=("c-1",)
    )
    asyncio.run(record(one))
    two = DecodeAccess(
        "bearer",
        "default",
        2,
        0,
        workflow_ids=("complaint-CP-9", "complaint-CP-9-x"),
        client_ids=("c-1",),
    )
    asyncio.run(record(two))
    with db.connect() as conn:
        rows = conn.execute(select(access_log).order_by(access_log.c.id)).all()
    assert [(r.actor, r.workflow_id, r.client_id) for r in rows] == [
        ("codec:session", "client-c-1", "c-1"),
        ("codec:bearer", "complaint-CP-9", None),
        ("codec:bearer", "complaint-CP-9-x", None),
        ("codec:bearer", None, "c-1"),
    ]
    assert rows[0].purpose == "3 payload(s), namespace default, from ui"
