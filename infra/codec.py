"""AES-256-GCM payload codec: everything Temporal stores for us is ciphertext.

An encrypted payload is `{"encoding": "binary/encrypted", "encryption-key-id": kid}` with data
`nonce(12) || ciphertext || tag(16)`; the plaintext is the whole original Payload (its metadata
included), and the key id is authenticated data, so neither can be swapped unnoticed.

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
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.common import MetricCounter, MetricMeter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from infra.keys import PAYLOAD_PURPOSE, KeyRing, KeyRingError, PurposeRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
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
        self._ciphers = {kid: AESGCM(keyring.subkey(kid, PAYLOAD_PURPOSE)) for kid in keyring.keys}
        self._alarm = alarm or PlaintextAlarm()
        self._workflow_id: str | None = None

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

    def encrypt(self, payload: Payload) -> Payload:
        kid = self._ring.primary
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if not self.is_encrypted(payload):
            encoding = payload.metadata.get("encoding", b"").decode("ascii", "replace")
            self._alarm(self._workflow_id, encoding)
            raise PlaintextPayloadError(
                f"refusing an unencrypted payload (encoding {encoding!r}): every payload in this "
                "namespace must come through the client-care data converter or codec server"
            )
        kid = self.key_id(payload)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            self._ring.key(kid)  # raises the explanatory KeyRingError
            raise AssertionError("unreachable")
        if len(payload.data) < _NONCE + _TAG:
            raise KeyRingError(f"encrypted payload under key {kid!r} is truncated")
        try:
            plain = cipher.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], kid.encode())
            return Payload.FromString(plain)
        except (InvalidTag, DecodeError):
            raise KeyRingError(
                f"payload under key {kid!r} failed authentication: wrong key or altered data"
            ) from None
