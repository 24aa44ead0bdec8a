"""The two cipher suites: AES-256-GCM with HMAC-SHA256 blind indexes, and SM4-GCM with HMAC-SM3
and HKDF-SM3 (国密). Each is the standard algorithm (known-answer vectors), each round-trips
payloads and sealed fields, what one wrote the other ring reads (a history or table written
partly under each), the suite is authenticated, and the codec server's exported subkeys serve
both. `make test-sm4` runs the encryption-heavy tests again with the ring under SM4-GCM."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.testing import WorkflowEnvironment

from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.codec import CIPHER, EncryptionCodec
from infra.keys import (
    PAYLOAD_PURPOSE,
    KeyRing,
    KeyRingError,
    PurposeRing,
    derive_key,
    load_keyring,
    load_payload_keys,
    new_key_entry,
)
from infra.settings import Settings
from infra.temporal import data_converter, register_search_attributes
from projections.crypto import (
    FIELD_PURPOSE,
    INDEX_PURPOSE,
    SM4GCM,
    CipherSuite,
    FieldCipher,
    FieldCipherError,
    normalise,
)
from projections.tables import complaints
from tests.helpers.complaint_env import complaint_context, intake
from tests.security.pii_scan import iter_payloads, patch_marker, unencrypted_payloads
from workflows import search_attributes

AES, SM4 = CipherSuite.AES_256_GCM, CipherSuite.SM4_GCM
ENTRY = new_key_entry("k1")


def ring(suite: CipherSuite, text: str = ENTRY) -> KeyRing:
    return KeyRing.parse(text, suite)


def _payload(text: str = "王小明 13800138000") -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def test_the_primitives_are_the_standard_ones() -> None:
    # GB/T 32907-2016 (SM4) appendix A, GB/T 32905-2016 (SM3) appendix A, RFC 8998 A.1 (SM4-GCM)
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    ecb = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (ecb.update(key) + ecb.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    out = SM4GCM(key).encrypt(
        bytes.fromhex("00001234567800000000ABCD"),
        bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                      "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"),
        bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"),
    )  # fmt: skip
    assert out[:-16].hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    assert out[-16:].hex().upper() == "83DE3541E4C2B58177E065A9BF7B62EC"


def test_each_suite_has_its_own_subkeys_sm_ones_by_hkdf_sm3() -> None:
    r = ring(SM4)
    raw = r.key("k1")
    for purpose in (PAYLOAD_PURPOSE, FIELD_PURPOSE, INDEX_PURPOSE):
        assert r.subkey("k1", purpose, AES) != r.subkey("k1", purpose, SM4)
        assert r.subkey("k1", purpose, SM4) == derive_key(raw, purpose, SM4)
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    expected = HKDF(hashes.SM3(), 32, None, b"client-care/blind-index/v1/sm4-gcm").derive(raw)
    assert r.subkey("k1", INDEX_PURPOSE, SM4) == expected


@pytest.mark.parametrize("suite", list(CipherSuite))
async def test_payloads_round_trip_under_either_suite(suite: CipherSuite) -> None:
    codec = EncryptionCodec(ring(suite))
    [sealed] = await codec.encode([_payload()])
    assert b"13800138000" not in sealed.data and "王小明".encode() not in sealed.data
    assert sealed.metadata["encryption-key-id"] == b"k1"
    # AES-256-GCM payloads are as they always were; SM4-GCM ones say so
    assert sealed.metadata.get(CIPHER) == (None if suite is AES else b"sm4-gcm")
    assert await codec.decode([sealed]) == [_payload()]


@pytest.mark.parametrize(("writer", "reader"), [(AES, SM4), (SM4, AES)])
async def test_a_history_written_under_both_suites_reads_whole(
    writer: CipherSuite, reader: CipherSuite
) -> None:
    """A ring moved to the other suite (its primary key rotated too) reads what the first wrote."""
    before = EncryptionCodec(ring(writer))
    [old] = await before.encode([_payload("old")])
    after = EncryptionCodec(ring(reader, new_key_entry("k2") + "," + ENTRY))
    [new] = await after.encode([_payload("new")])
    assert after.key_id(new) == "k2" and after.suite_of(new) is reader
    assert await after.decode([old, new]) == [_payload("old"), _payload("new")]


async def test_the_suite_is_authenticated() -> None:
    codec = EncryptionCodec(ring(SM4))
    [sealed] = await codec.encode([_payload()])
    stripped = Payload()
    stripped.CopyFrom(sealed)
    del stripped.metadata[CIPHER]  # claims AES-256-GCM
    with pytest.raises(KeyRingError, match="failed authentication"):
        await codec.decode([stripped])
    stripped.metadata[CIPHER] = b"rot13"
    with pytest.raises(KeyRingError, match="unknown cipher"):
        await codec.decode([stripped])


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_sealed_fields_and_blind_indexes_under_either_suite(suite: CipherSuite) -> None:
    cipher = FieldCipher(ring(suite))
    blob = cipher.seal({"name": "王小明"}, context="client:c-1")
    assert blob[0] == (4 if suite is AES else 5)  # the version byte names the suite (format 2)
    assert cipher.open(blob, context="client:c-1") == {"name": "王小明"}
    with pytest.raises(FieldCipherError):
        cipher.open(blob, context="client:c-2")
    # the index is the suite's HMAC under the suite's index subkey, of the normalised value
    key = ring(suite).subkey("k1", INDEX_PURPOSE, suite)
    mac = hmac.HMAC(key, hashes.SHA256() if suite is AES else hashes.SM3())
    mac.update(normalise("+86 138-0013-8000").encode())
    assert cipher.blind("+86 138-0013-8000") == mac.finalize().hex()
    assert cipher.blind("13800138000") == cipher.blind("+86 138 0013 8000")


def test_rows_sealed_under_one_suite_open_under_the_other_and_reseal_moves_them() -> None:
    aes, sm4 = FieldCipher(ring(AES)), FieldCipher(ring(SM4))
    old = aes.seal("理财经理未告知风险", context="complaint:k")
    assert sm4.open(old, context="complaint:k") == "理财经理未告知风险"
    moved = sm4.reseal(old, context="complaint:k")
    assert sm4.suite_of(moved) is SM4 and aes.open(moved, context="complaint:k")
    assert sm4.reseal(moved, context="complaint:k") is moved
    # blind indexes do not carry over: a change of suite is a re-index (rebuild-projections)
    assert aes.blind("13800138000") != sm4.blind("13800138000")


def test_the_codec_server_s_subkeys_serve_both_suites(tmp_path) -> None:  # type: ignore[no-untyped-def]
    exported = ring(SM4).for_purpose(PAYLOAD_PURPOSE).format()
    assert "k1+sm:" in exported and ENTRY.split(":", 1)[1] not in exported
    settings = Settings(
        client_care_payload_keys=exported, client_care_cipher_suite="sm4-gcm", _env_file=None
    )  # type: ignore[call-arg]
    payload_keys = load_payload_keys(settings)
    assert isinstance(payload_keys, PurposeRing) and payload_keys.suite is SM4
    server = EncryptionCodec(payload_keys)
    for suite in CipherSuite:
        sealed = EncryptionCodec(ring(suite)).encrypt(_payload())
        assert server.decrypt(sealed) == _payload()
    assert server.suite_of(server.encrypt(_payload())) is SM4
    # subkeys exported before the suites (no +sm entries): AES payloads only, and a clear error
    aes_only = PurposeRing.parse(exported.split(",k1+sm:")[0], PAYLOAD_PURPOSE)
    old = EncryptionCodec(aes_only)
    assert old.decrypt(EncryptionCodec(ring(AES)).encrypt(_payload())) == _payload()
    with pytest.raises(KeyRingError, match="payload-keys"):
        old.decrypt(EncryptionCodec(ring(SM4)).encrypt(_payload()))


def test_the_setting_chooses_the_suite() -> None:
    entry = new_key_entry("k9")
    for value, suite in (("aes-256-gcm", AES), ("sm4-gcm", SM4)):
        settings = Settings(client_care_keys=entry, client_care_cipher_suite=value, _env_file=None)  # type: ignore[call-arg]  # fmt: skip
        assert load_keyring(settings).suite is suite
    assert Settings.model_fields["client_care_cipher_suite"].default == "aes-256-gcm"
    with pytest.raises(ValueError):
        Settings(client_care_cipher_suite="des", _env_file=None)  # type: ignore[call-arg]


async def test_a_complaint_under_sm4_gcm_end_to_end(db: Engine, policy: Policy) -> None:
    """The worker, the history and the read model under the SM suite: every payload Temporal
    stores is SM4-GCM, the complaint's sealed fields are version 5 (SM4-GCM, format 2), and it
    reads back."""
    sm_ring = KeyRing.parse(
        f"sm{uuid.uuid4().hex[:6]}:{base64.b64encode(bytes(range(32))).decode()}", SM4
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(sm_ring), test_server_existing_path=temporal_test_server()
    )
    try:
        await register_search_attributes(env.client, search_attributes.ALL)
        async with complaint_context(env.client, db, sm_ring, policy) as ctx:
            opened = await COMMANDS["open"](ctx, None, intake("c-9701"))
            shown = await COMMANDS["show"](ctx, opened["complaint_id"], {})
            history = await env.client.get_workflow_handle(opened["workflow_id"]).fetch_history()
    finally:
        await env.shutdown()
    assert shown["stage"] == "assessment"
    proto = History(events=history.events)
    assert unencrypted_payloads(proto) == []
    sealed = [
        p
        for path, p in iter_payloads(proto)
        if ".search_attributes." not in path and not patch_marker(path, p)
    ]
    assert sealed and all(p.metadata.get(CIPHER) == b"sm4-gcm" for p in sealed)
    with db.connect() as conn:
        content = conn.execute(select(complaints.c.content_enc)).scalar_one()
    assert content[0] == 5
    assert FieldCipher(sm_ring).suite_of(content) is SM4


@pytest.mark.parametrize("entry", ["starter.py", "worker.py"])
def test_a_bad_setting_is_a_configuration_error_naming_it_not_its_value(entry: str) -> None:
    import os
    import subprocess
    import sys

    from infra.settings import ROOT

    env = {
        "PATH": os.environ["PATH"],
        "CLIENT_CARE_CIPHER_SUITE": "sm4-cbc-secretish",
        "OTEL_SDK_DISABLED": "maybe",
    }
    argv = [sys.executable, entry] + (["client", "questionnaire"] if entry == "starter.py" else [])
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == (3 if entry == "starter.py" else 2), done.stderr
    assert "CLIENT_CARE_CIPHER_SUITE" in done.stderr and "OTEL_SDK_DISABLED" in done.stderr
    assert "secretish" not in done.stderr and "maybe" not in done.stderr
    assert "Traceback" not in done.stderr


def test_compose_gives_every_service_of_ours_the_same_suite() -> None:
    import yaml

    from infra.settings import ROOT

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {n: s for n, s in services.items() if "CLIENT_CARE_POLICY" in s.get("environment", {})}
    assert {"worker", "codec-server", "migrate"} <= set(ours)
    suites = {s["environment"]["CLIENT_CARE_CIPHER_SUITE"] for s in ours.values()}
    assert suites == {"aes-256-gcm"}
