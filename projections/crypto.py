"""Personal fields at rest: AES-256-GCM with the payload key ring, plus keyed-hash blind indexes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.keys import KeyRing

_VERSION = b"\x01"


class FieldCipher:
    """`seal`/`open` personal values; `blind` gives a stable lookup hash of a normalised value.

    Layout of a sealed value: version byte, key-id length, key id, 12-byte nonce, ciphertext.
    The blind-index key is derived from the ring's oldest key so that rotation does not change
    the hashes already stored (retiring that key means re-indexing).
    """

    def __init__(self, keyring: KeyRing) -> None:
        self._ring = keyring
        oldest = list(keyring.keys)[-1]
        self._index_key = hmac.new(keyring.keys[oldest], b"blind-index/v1", hashlib.sha256).digest()

    def seal(self, value: Any, *, context: str = "") -> bytes:
        kid = self._ring.primary.encode()
        nonce = os.urandom(12)
        plain = json.dumps(value, ensure_ascii=False, default=str).encode()
        sealed = AESGCM(self._ring.keys[self._ring.primary]).encrypt(
            nonce, plain, kid + context.encode()
        )
        return _VERSION + bytes([len(kid)]) + kid + nonce + sealed

    def open(self, blob: bytes, *, context: str = "") -> Any:
        if not blob or blob[:1] != _VERSION:
            raise ValueError("not a sealed field value")
        n = blob[1]
        kid = blob[2 : 2 + n]
        nonce = blob[2 + n : 14 + n]
        key = self._ring.key(kid.decode())
        plain = AESGCM(key).decrypt(nonce, blob[14 + n :], kid + context.encode())
        return json.loads(plain)

    def blind(self, value: str | None) -> str | None:
        if not value:
            return None
        normal = unicodedata.normalize("NFKC", value).strip().lower().replace(" ", "")
        normal = normal.replace("-", "")
        return hmac.new(self._index_key, normal.encode(), hashlib.sha256).hexdigest()
