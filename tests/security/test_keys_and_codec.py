"""The key ring, its files, and the payload codec in isolation."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

import infra.keys as keys
from infra.codec import (
    CONTEXT,
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadPlace,
    PayloadPlaceError,
    PlaintextAlarm,
    PlaintextPayloadError,
)
from infra.keys import KeyRing, KeyRingError, load_codec_token, load_keyring, new_key_entry
from infra.settings import Settings
from infra.temporal import data_converter
from projections.crypto import CipherSuite

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone":"13812345678"}')


def _settings(**values: object) -> Settings:
    # Explicit values win over the environment, so a developer's own CLIENT_CARE_KEYS or
    # CODEC_SERVER_TOKEN cannot change what these tests see.
    values = {"client_care_keys": None, "codec_server_token": None, **values}
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


# --- key ring -------------------------------------------------------------------------------


def test_first_key_encrypts_and_every_key_is_held() -> None:
    ring = KeyRing.parse(f"# rotated 2027-01\n{new_key_entry('k2')}\n{new_key_entry('k1')}")
    assert ring.primary == "k2"
    assert ring.key_ids() == ["k2", "k1"]
    assert ring.index_kid == "k1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("k1", "'key-id:base64-key'"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(os.urandom(16)).decode()}", "must be 32 bytes"),
        (f"{new_key_entry('k1')},{new_key_entry('k1')}", "appears twice"),
        (f"bad id:{base64.b64encode(os.urandom(32)).decode()}", "key id"),
    ],
)
def test_a_bad_ring_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(text)


def test_key_material_never_appears_in_repr_or_errors() -> None:
    entry = new_key_entry("k1")
    ring = KeyRing.parse(entry)
    secret = entry.split(":", 1)[1]
    assert secret not in repr(ring)
    with pytest.raises(KeyRingError) as err:
        ring.key("gone")
    assert "gone" in str(err.value) and secret not in str(err.value)
    settings = _settings(client_care_keys=entry, codec_server_token="t" * 40)
    assert secret not in repr(settings) and "t" * 40 not in repr(settings)


def test_ring_from_the_environment_or_a_file(tmp_path: Path) -> None:
    entry = new_key_entry("file1")
    assert load_keyring(_settings(client_care_keys=entry)).primary == "file1"
    path = tmp_path / "ring"
    path.write_text(entry + "\n")
    path.chmod(0o600)
    assert load_keyring(_settings(client_care_keys=str(path))).primary == "file1"
    path.chmod(0o666)
    with pytest.raises(KeyRingError, match="writable by group or others"):
        load_keyring(_settings(client_care_keys=str(path)))
    with pytest.raises(KeyRingError, match="neither a key ring"):
        load_keyring(_settings(client_care_keys=str(tmp_path / "missing")))


def test_dev_key_ring_is_created_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "DEV_KEY_FILE", tmp_path / "data" / "keys")
    with pytest.raises(KeyRingError, match="run `make run` once"):
        load_keyring(_settings())
    first = load_keyring(_settings(), create_dev_key=True)
    assert (tmp_path / "data" / "keys").stat().st_mode & 0o777 == 0o600
    assert load_keyring(_settings()).keys == first.keys
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["keys"]  # no temp file left


def test_codec_token_from_settings_or_the_dev_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "DEV_CODEC_TOKEN_FILE", tmp_path / "codec-token")
    with pytest.raises(KeyRingError, match="CODEC_SERVER_TOKEN is not set"):
        load_codec_token(_settings())
    token = load_codec_token(_settings(), create_dev_token=True)
    assert len(token) >= 32
    assert (tmp_path / "codec-token").stat().st_mode & 0o777 == 0o600
    assert load_codec_token(_settings()) == token
    assert load_codec_token(_settings(codec_server_token="x" * 32)) == "x" * 32
    with pytest.raises(KeyRingError, match="at least 32"):
        load_codec_token(_settings(codec_server_token="short"))


# --- codec ----------------------------------------------------------------------------------


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec(KeyRing.parse(new_key_entry("k1")))
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"13812345678" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [PLAIN]
    [again] = await codec.encode([PLAIN])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_old_keys_decrypt_and_only_the_primary_encrypts() -> None:
    old_entry = new_key_entry("old")
    old = EncryptionCodec(KeyRing.parse(old_entry))
    rotated = EncryptionCodec(KeyRing.parse(f"{new_key_entry('new')},{old_entry}"))
    [under_old] = await old.encode([PLAIN])
    assert await rotated.decode([under_old]) == [PLAIN]
    [under_new] = await rotated.encode([PLAIN])
    assert under_new.metadata[KEY_ID] == b"new"


async def test_missing_wrong_or_altered_keys_are_errors_never_plaintext() -> None:
    codec = EncryptionCodec(KeyRing.parse(new_key_entry("k1")))
    [sealed] = await codec.encode([PLAIN])

    with pytest.raises(KeyRingError, match="no key with id 'k1'"):
        await EncryptionCodec(KeyRing.parse(new_key_entry("k2"))).decode([sealed])
    with pytest.raises(KeyRingError, match="failed authentication"):
        await EncryptionCodec(KeyRing.parse(new_key_entry("k1"))).decode([sealed])

    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(KeyRingError, match="failed authentication"):
        await codec.decode([flipped])

    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"k2"
    with pytest.raises(KeyRingError, match="no key with id 'k2'"):
        await codec.decode([relabelled])

    truncated = Payload(metadata=sealed.metadata, data=sealed.data[:20])
    with pytest.raises(KeyRingError, match="truncated"):
        await codec.decode([truncated])

    with pytest.raises(PlaintextPayloadError, match="unencrypted payload"):
        await codec.decode([PLAIN])


async def test_the_data_converter_encrypts_values_and_failure_messages() -> None:
    converter = data_converter(KeyRing.parse(new_key_entry("k1")))
    [payload] = await converter.encode([{"phone": "13812345678"}])
    assert EncryptionCodec.is_encrypted(payload)
    assert await converter.decode([payload]) == [{"phone": "13812345678"}]

    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    failure = Failure()
    await converter.encode_failure(ApplicationError("call 13812345678"), failure)
    assert b"13812345678" not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    assert str(await converter.decode_failure(failure)) == "call 13812345678"


# --- payloads bound to their place (namespace and workflow id) -------------------------------

SUITES = [CipherSuite.AES_256_GCM, CipherSuite.SM4_GCM]


def _codec(suite: CipherSuite, **options: bool) -> EncryptionCodec:
    return EncryptionCodec(KeyRing.parse(new_key_entry("k1"), suite), **options)


def _in(namespace: str, workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)


def _activity_of(namespace: str, workflow_id: str) -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace=namespace,
        activity_id="1",
        activity_type="probe_greet",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="PiiProbeWorkflow",
        is_local=False,
    )


def _copy(payload: Payload) -> Payload:
    twin = Payload()
    twin.CopyFrom(payload)
    return twin


@pytest.mark.parametrize("suite", SUITES)
async def test_a_payload_opens_only_in_the_namespace_and_workflow_it_was_written_for(
    suite: CipherSuite,
) -> None:
    codec = _codec(suite)
    a = codec.with_context(_in("default", "client-c-1"))
    [sealed] = await a.encode([PLAIN])
    assert sealed.metadata[CONTEXT] == b"default\0client-c-1"
    assert await a.decode([sealed]) == [PLAIN]
    # the workflow's activities are bound to the workflow: their input and its result both open
    assert await codec.with_context(_activity_of("default", "client-c-1")).decode([sealed]) == [
        PLAIN
    ]
    for elsewhere in (_in("default", "client-c-2"), _in("other", "client-c-1")):
        with pytest.raises(PayloadPlaceError, match="ciphertext moved") as refused:
            await codec.with_context(elsewhere).decode([sealed])
        assert "13812345678" not in str(refused.value)
    with pytest.raises(PayloadPlaceError):
        await codec.with_context(_activity_of("default", "client-c-2")).decode([sealed])
    # unbound (the codec server) it opens, under the place it authenticates
    assert await codec.decode([sealed]) == [PLAIN]
    assert EncryptionCodec.place_of(sealed) == PayloadPlace("default", "client-c-1")


@pytest.mark.parametrize("suite", SUITES)
async def test_the_data_converter_binds_what_the_sdk_binds(suite: CipherSuite) -> None:
    converter = data_converter(KeyRing.parse(new_key_entry("k1"), suite))
    [payload] = await converter.with_context(_in("default", "complaint-1")).encode([{"a": 1}])
    assert EncryptionCodec.place_of(payload) == PayloadPlace("default", "complaint-1")
    with pytest.raises(PayloadPlaceError):
        await converter.with_context(_in("default", "complaint-2")).decode([payload])


@pytest.mark.parametrize("suite", SUITES)
async def test_an_edited_or_stripped_place_fails_authentication(suite: CipherSuite) -> None:
    codec = _codec(suite)
    [sealed] = await codec.with_context(_in("default", "client-c-1")).encode([PLAIN])

    moved = _copy(sealed)
    moved.metadata[CONTEXT] = b"default\0client-c-2"
    for reader in (codec, codec.with_context(_in("default", "client-c-2"))):
        with pytest.raises(KeyRingError, match="failed authentication"):
            await reader.decode([moved])

    stripped = _copy(sealed)
    del stripped.metadata[CONTEXT]
    for reader in (codec, codec.with_context(_in("default", "client-c-2"))):
        with pytest.raises(KeyRingError, match="failed authentication"):
            await reader.decode([stripped])

    malformed = _copy(sealed)
    malformed.metadata[CONTEXT] = b"no-separator"
    with pytest.raises(KeyRingError, match="malformed encryption context"):
        await codec.decode([malformed])


@pytest.mark.parametrize("suite", SUITES)
async def test_a_payload_written_before_places_opens_everywhere_unless_required(
    suite: CipherSuite,
) -> None:
    ring = KeyRing.parse(new_key_entry("k1"), suite)
    codec = EncryptionCodec(ring)
    # an unbound codec writes exactly the format every payload had before places
    [legacy] = await codec.encode([PLAIN])
    assert CONTEXT not in legacy.metadata
    for context in (_in("default", "client-c-1"), _in("other", "x"), _activity_of("d", "w")):
        assert await codec.with_context(context).decode([legacy]) == [PLAIN]

    strict = EncryptionCodec(ring, require_place=True)
    with pytest.raises(PayloadPlaceError, match="no encryption context"):
        await strict.with_context(_in("default", "client-c-1")).decode([legacy])
    assert await strict.decode([legacy]) == [PLAIN]  # the codec server shows it still
    # the setting reaches the converter every process connects with
    assert _settings(client_care_require_payload_place="true").client_care_require_payload_place
    converter = data_converter(ring, require_place=True)
    with pytest.raises(PayloadPlaceError):
        await converter.with_context(_in("default", "client-c-1")).decode([legacy])


@pytest.mark.parametrize("suite", SUITES)
async def test_a_scheduled_run_opens_its_action_and_its_other_runs_and_nothing_else(
    suite: CipherSuite,
) -> None:
    codec = _codec(suite)
    run = "tier-review-2026-12-01T18:00:00Z"
    [action_input] = await codec.with_context(_in("default", "tier-review")).encode([PLAIN])
    [earlier_result] = await codec.with_context(
        _in("default", "tier-review-2026-09-01T18:00:00Z")
    ).encode([PLAIN])
    for payload in (action_input, earlier_result):
        assert await codec.with_context(_in("default", run)).decode([payload]) == [PLAIN]

    refused = [
        "tier-review-x",  # not the server's suffix
        "tier-review-2026-12-01T18:00:00+08:00",  # the server names runs in UTC
        "tier-review-2026-12-01T18:00:00.5Z",
        "tier-review-2026-12-01",
        "tier-review-2026-12-01T18:00:00Z-2026-12-01T18:00:00Z",
        "kpi-report-2026-12-01T18:00:00Z",  # another schedule's run
        "xtier-review-2026-12-01T18:00:00Z",
    ]
    for workflow_id in refused:
        with pytest.raises(PayloadPlaceError):
            await codec.with_context(_in("default", workflow_id)).decode([action_input])
    # a run's payloads reach other runs of its schedule (in any order the server hands them
    # over), never its action or elsewhere
    [of_run] = await codec.with_context(_in("default", run)).encode([PLAIN])
    later = _in("default", "tier-review-2027-03-01T18:00:00Z")
    earlier = _in("default", "tier-review-2026-09-01T18:00:00Z")
    for sibling in (later, earlier):
        assert await codec.with_context(sibling).decode([of_run]) == [PLAIN]
    for workflow_id in ("tier-review", "kpi-report", "kpi-report-2027-03-01T18:00:00Z"):
        with pytest.raises(PayloadPlaceError):
            await codec.with_context(_in("default", workflow_id)).decode([of_run])
    with pytest.raises(PayloadPlaceError):
        await codec.with_context(_in("other", run)).decode([action_input])


async def test_a_refused_payload_of_another_place_is_counted_by_the_workflow_refusing_it() -> None:
    added: list[tuple[str, int, dict[str, str]]] = []

    class Counter:
        def __init__(self, name: str) -> None:
            self.name = name

        def add(self, value: int, labels: dict[str, str]) -> None:
            added.append((self.name, value, labels))

    class Meter:
        def create_counter(self, name: str, description: str) -> Counter:
            return Counter(name)

    alarm = PlaintextAlarm(Meter())  # type: ignore[arg-type]
    codec = EncryptionCodec(KeyRing.parse(new_key_entry("k1")), alarm)
    [sealed] = await codec.with_context(_in("default", "client-c-1")).encode([PLAIN])
    with pytest.raises(PayloadPlaceError):
        await codec.with_context(_in("default", "client-c-2")).decode([sealed])
    assert added == [("client_care_moved_payloads", 1, {"workflow_id": "client-c-2"})]
