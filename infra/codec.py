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

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from infra.keys import PAYLOAD_PURPOSE, KeyRing, KeyRingError, PurposeRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12
_TAG = 16


class PlaintextPayloadError(KeyRingError):
    """A payload that should have been encrypted was not."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: KeyRing | PurposeRing) -> None:
        self._ring = keyring
        self._ciphers = {kid: AESGCM(keyring.subkey(kid, PAYLOAD_PURPOSE)) for kid in keyring.keys}

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
