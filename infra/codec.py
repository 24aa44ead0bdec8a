"""Payload codec: everything Temporal stores for us is ciphertext (AES-256-GCM or SM4-GCM).

An encrypted payload is `{"encoding": "binary/encrypted", "encryption-key-id": kid}` with data
`nonce(12) || ciphertext || tag(16)`; the plaintext is the whole original Payload (its metadata
included), and the key id is authenticated data, so neither can be swapped unnoticed. Under the
SM4-GCM suite the metadata also says `"encryption-cipher": "sm4-gcm"`, authenticated with the key
id; a payload without it is AES-256-GCM, as every payload written before the suites were. The
ring's suite (`CLIENT_CARE_CIPHER_SUITE`) encrypts; both decrypt, so a history written partly
under each reads whole.

Decoding is strict: a payload that is not ours (plaintext written by a client without this codec)
is refused rather than trusted, and a missing or wrong key is a `KeyRingError`, never a silent
pass-through. Random 96-bit nonces are safe for well over 2**32 payloads per key; rotate the
primary key long before that.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.common import MetricCounter, MetricMeter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from infra.keys import PAYLOAD_PURPOSE, KeyRing, KeyRingError, PurposeRing
from projections.crypto import AEAD, CipherSuite, aead

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
_NONCE = 12
_TAG = 16


class PlaintextPayloadError(KeyRingError):
    """A payload that should have been encrypted was not."""


class PlaintextAlarm:
    """What a refused plaintext payload sets off: a warning naming the workflow and, given the
    process's metric meter (the worker's), a counter labelled with the workflow id."""

    def __init__(self, meter: MetricMeter | None = None) -> None:
        self._counter: MetricCounter | None = (
            meter.create_counter(
                "client_care_plaintext_payloads",
                "payloads refused for arriving unencrypted, by workflow id: each one wedges its "
                "workflow until `auditor.py repair-plaintext` resets it",
            )
            if meter is not None
            else None
        )

    def __call__(self, workflow_id: str | None, encoding: str) -> None:
        from infra.logging import get_logger  # infra.logging imports the redaction, not us

        get_logger("infra.codec").warning(
            "plaintext payload refused: the workflow is stuck until repaired with "
            "`auditor.py repair-plaintext`",
            workflow_id=workflow_id or "unknown",
            encoding=encoding,
        )
        if self._counter is not None:
            self._counter.add(1, {"workflow_id": workflow_id or "unknown"})


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: KeyRing | PurposeRing, alarm: PlaintextAlarm | None = None) -> None:
        self._ring = keyring
        self._suite = keyring.suite
        # the ring's suite at once (a missing subkey fails here, at start); the other when a
        # payload under it arrives
        self._ciphers: dict[tuple[str, CipherSuite], AEAD] = {
            (kid, self._suite): aead(self._suite, keyring.subkey(kid, PAYLOAD_PURPOSE, self._suite))
            for kid in keyring.keys
        }
        self._alarm = alarm or PlaintextAlarm()
        self._workflow_id: str | None = None

    @property
    def keyring(self) -> KeyRing | PurposeRing:
        return self._ring

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        # The SDK asks for a copy per workflow, activity or client call; the ciphers are shared.
        bound = copy.copy(self)
        bound._workflow_id = getattr(context, "workflow_id", None)
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    @staticmethod
    def is_encrypted(payload: Payload) -> bool:
        return payload.metadata.get("encoding") == ENCODING

    @staticmethod
    def key_id(payload: Payload) -> str:
        return payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")

    @staticmethod
    def suite_of(payload: Payload) -> CipherSuite:
        name = payload.metadata.get(CIPHER)
        if name is None:
            return CipherSuite.AES_256_GCM
        try:
            return CipherSuite(name.decode("ascii", "replace"))
        except ValueError:
            raise KeyRingError(
                f"payload under an unknown cipher {name.decode('ascii', 'replace')[:32]!r}"
            ) from None

    def _cipher(self, kid: str, suite: CipherSuite) -> AEAD:
        cipher = self._ciphers.get((kid, suite))
        if cipher is None:
            # raises the explanatory KeyRingError for a key id (or SM subkey) the ring lacks
            cipher = aead(suite, self._ring.subkey(kid, PAYLOAD_PURPOSE, suite))
            self._ciphers[(kid, suite)] = cipher
        return cipher

    @staticmethod
    def _aad(kid: str, suite: CipherSuite) -> bytes:
        # AES-256-GCM's is the key id alone, as it always was
        return kid.encode() + (b"" if suite is CipherSuite.AES_256_GCM else b"\0" + suite.encode())

    def encrypt(self, payload: Payload) -> Payload:
        kid, suite = self._ring.primary, self._suite
        nonce = os.urandom(_NONCE)
        plain = payload.SerializeToString()
        sealed = self._cipher(kid, suite).encrypt(nonce, plain, self._aad(kid, suite))
        metadata = {"encoding": ENCODING, KEY_ID: kid.encode()}
        if suite is not CipherSuite.AES_256_GCM:
            metadata[CIPHER] = suite.encode()
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if not self.is_encrypted(payload):
            encoding = payload.metadata.get("encoding", b"").decode("ascii", "replace")
            self._alarm(self._workflow_id, encoding)
            raise PlaintextPayloadError(
                f"refusing an unencrypted payload (encoding {encoding!r}): every payload in this "
                "namespace must come through the client-care data converter or codec server"
            )
        kid, suite = self.key_id(payload), self.suite_of(payload)
        cipher = self._cipher(kid, suite)
        if len(payload.data) < _NONCE + _TAG:
            raise KeyRingError(f"encrypted payload under key {kid!r} is truncated")
        try:
            plain = cipher.decrypt(
                payload.data[:_NONCE], payload.data[_NONCE:], self._aad(kid, suite)
            )
            return Payload.FromString(plain)
        except (InvalidTag, DecodeError):
            raise KeyRingError(
                f"payload under key {kid!r} failed authentication: wrong key or altered data"
            ) from None
