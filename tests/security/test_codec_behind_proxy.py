"""The codec server behind a TLS-terminating proxy (its own origin and the session cookie follow
the public URL or the proxy's forwarded proto), and holding only the payload subkeys."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from infra.codec import EncryptionCodec
from infra.codec_server import SESSION_COOKIE, make_app
from infra.embedded_pg import free_port
from infra.keys import PAYLOAD_PURPOSE, KeyRing, KeyRingError, PurposeRing, new_key_entry
from infra.settings import ROOT
from projections.crypto import FieldCipher

TOKEN = "codec-proxy-token-" + "y" * 24
UI = "https://temporal.client-care.example"
PUBLIC = "https://codec.client-care.example"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'"13812345678"')


def _body(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def _login(http: aiohttp.ClientSession, srv: TestServer, headers: dict[str, str]):
    async with http.post(srv.make_url("/login"), data={"token": TOKEN}, headers=headers) as r:
        return r.status, r.cookies.get(SESSION_COOKIE)


async def test_behind_a_proxy_with_a_public_url_the_login_form_works_and_the_cookie_is_secure(
    keyring: KeyRing, http: aiohttp.ClientSession
) -> None:
    app = make_app(keyring, TOKEN, UI, public_url=PUBLIC)
    async with TestServer(app, host="127.0.0.1") as srv:
        # the browser posts the login form from the proxy's https origin
        status, cookie = await _login(http, srv, {"Origin": PUBLIC})
        assert status == 200
        assert cookie is not None and cookie["secure"]
        # a page elsewhere still may not
        status, _ = await _login(http, srv, {"Origin": "https://evil.example"})
        assert status == 403


async def test_forwarded_proto_counts_only_when_the_proxy_is_trusted(
    keyring: KeyRing, http: aiohttp.ClientSession
) -> None:
    forwarded = {
        "Origin": PUBLIC,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "codec.client-care.example",
    }
    async with TestServer(make_app(keyring, TOKEN, UI, trust_forwarded=True)) as srv:
        status, cookie = await _login(http, srv, forwarded)
        assert status == 200 and cookie is not None and cookie["secure"]
    # without a trusted proxy, anyone could send these headers: they change nothing
    async with TestServer(make_app(keyring, TOKEN, UI)) as srv:
        status, _ = await _login(http, srv, forwarded)
        assert status == 403
        status, cookie = await _login(http, srv, {})
        assert status == 200 and cookie is not None and not cookie["secure"]


def test_the_payload_ring_opens_payloads_and_nothing_else(keyring: KeyRing) -> None:
    payload_ring = PurposeRing.parse(keyring.for_purpose(PAYLOAD_PURPOSE).format(), PAYLOAD_PURPOSE)
    assert payload_ring.primary == keyring.primary
    assert set(payload_ring.keys) == set(keyring.keys)
    # the ring holds derived subkeys, never a ring key
    assert not set(payload_ring.keys.values()) & set(keyring.keys.values())
    sealed = EncryptionCodec(keyring).encrypt(PLAIN)
    assert EncryptionCodec(payload_ring).decrypt(sealed) == PLAIN
    assert EncryptionCodec(keyring).decrypt(EncryptionCodec(payload_ring).encrypt(PLAIN)) == PLAIN
    with pytest.raises(KeyRingError, match="only the temporal-payload/v1 subkeys"):
        FieldCipher(payload_ring)
    assert "payload" in repr(payload_ring) and keyring.keys[keyring.primary].hex() not in repr(
        payload_ring
    )


def _payload_keys_of(ring: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "infra.keys", "payload-keys"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "CLIENT_CARE_KEYS": ring},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def test_the_codec_server_runs_on_the_payload_keys_alone(keyring: KeyRing) -> None:
    ring = new_key_entry("ring1")
    derived = await asyncio.to_thread(_payload_keys_of, ring)
    assert derived.startswith("ring1:") and derived != ring
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "CLIENT_CARE_PAYLOAD_KEYS": derived,  # and no CLIENT_CARE_KEYS at all
        "CODEC_SERVER_TOKEN": TOKEN,
        "CODEC_SERVER_PORT": str(port),
        "LOG_FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infra.codec_server", "--no-audit", cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    sealed = EncryptionCodec(KeyRing.parse(ring)).encrypt(PLAIN)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/decode"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            for _ in range(100):
                try:
                    async with http.post(url, json=_body(sealed), headers=headers) as resp:
                        assert resp.status == 200
                        body = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the codec server did not start")
        assert json_format.ParseDict(body["payloads"][0], Payload()) == PLAIN
    finally:
        proc.terminate()
        await proc.wait()
