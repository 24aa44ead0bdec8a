"""Personal fields at rest: AES-256-GCM with the payload key ring, plus keyed-hash blind indexes.

Sealed value layout: version byte, key-id length, key id, 12-byte nonce, ciphertext and tag.
The authenticated data binds the version, the key id and the caller's `context`: pass the row's
identity (e.g. `client:<id>`) so a value copied into another row fails to open.

Blind indexes are HMAC-SHA256 of a normalised value under a key derived from the ring's oldest
key (`KeyRing.index_kid`): prepending a new primary key keeps every stored hash valid; retiring
that oldest key means re-indexing. Phone numbers and ID numbers are low-entropy, so the index
key must stay as secret as the encryption keys: with it, hashes can be brute-forced.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 2
_NONCE = 12
FIELD_PURPOSE = "projection-field/v1"
INDEX_PURPOSE = "blind-index/v1"

_SEPARATORS = re.compile(r"[\s\-().]")
_NUMBERISH = re.compile(r"\+?\d+[Xx]?")
# A mainland mobile with its country code in any of the ways people write it.
_CN_MOBILE = re.compile(r"(?:\+86|0086|86)(1[3-9]\d{9})")


class KeySource(Protocol):
    """What the cipher needs of a key ring (`infra.keys.KeyRing` is one): the read models sit
    below the wiring that loads keys, so they name the shape, not the loader."""

    @property
    def keys(self) -> Mapping[str, bytes]: ...
    @property
    def primary(self) -> str: ...
    @property
    def index_kid(self) -> str: ...
    def key(self, kid: str) -> bytes: ...
    def subkey(self, kid: str, purpose: str) -> bytes: ...


class FieldCipherError(ValueError):
    """A sealed value that cannot be opened. Messages never include the value."""


class FieldCipher:
    """`seal`/`open` personal values; `blind` gives a stable lookup hash of a normalised value."""

    def __init__(self, keyring: KeySource) -> None:
        self._ring = keyring
        self._aead = {kid: AESGCM(keyring.subkey(kid, FIELD_PURPOSE)) for kid in keyring.keys}
        self._index_key = keyring.subkey(keyring.index_kid, INDEX_PURPOSE)

    def seal(self, value: Any, *, context: str = "") -> bytes:
        kid = self._ring.primary.encode()
        header = bytes([_VERSION, len(kid)]) + kid
        nonce = os.urandom(_NONCE)
        plain = json.dumps(value, ensure_ascii=False, default=str).encode()
        sealed = self._aead[self._ring.primary].encrypt(nonce, plain, header + context.encode())
        return header + nonce + sealed

    def open(self, blob: bytes, *, context: str = "") -> Any:
        header, kid = self._header(blob)
        body = bytes(blob[len(header) :])
        aead = self._aead.get(kid)
        if aead is None:
            self._ring.key(kid)  # raises KeyRingError naming the missing key id
            raise AssertionError("unreachable")
        try:
            plain = aead.decrypt(body[:_NONCE], body[_NONCE:], header + context.encode())
        except InvalidTag:
            raise FieldCipherError(
                f"sealed value under key {kid!r} failed authentication: wrong key, wrong "
                "context or altered data"
            ) from None
        return json.loads(plain)

    def key_id(self, blob: bytes) -> str:
        return self._header(blob)[1]

    def reseal(self, blob: bytes, *, context: str = "") -> bytes:
        """Re-encrypts under the primary key (key rotation of stored rows)."""
        if self.key_id(blob) == self._ring.primary:
            return blob
        return self.seal(self.open(blob, context=context), context=context)

    def blind(self, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        mac = hmac.HMAC(self._index_key, hashes.SHA256())
        mac.update(normalise(value).encode())
        return mac.finalize().hex()

    @staticmethod
    def _header(blob: bytes) -> tuple[bytes, str]:
        if not blob or len(blob) < 2 or blob[0] != _VERSION:
            raise FieldCipherError("not a sealed field value (or an unsupported format version)")
        n = blob[1]
        if len(blob) < 2 + n + _NONCE + 16:
            raise FieldCipherError("sealed field value is truncated")
        header = bytes(blob[: 2 + n])
        return header, header[2:].decode("ascii", "replace")


def normalise(value: str) -> str:
    """The form a value is indexed under, so that the ways people write one phone number or ID
    number all find the same row.

    - e-mail: trimmed, case-folded (dots and dashes are significant);
    - numbers (phones, ID and card numbers): spaces, dashes, dots and brackets dropped, full-width
      digits made ASCII, a mainland mobile's +86 / 0086 / 86 prefix dropped, `00` turned into `+`,
      the ID check character `x` upper-cased;
    - anything else: case-folded with whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if "@" in text:
        return text.casefold()
    compact = _SEPARATORS.sub("", text)
    if _NUMBERISH.fullmatch(compact):
        mobile = _CN_MOBILE.fullmatch(compact.lstrip("+"))
        if mobile:
            return mobile.group(1)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        return compact.upper()
    return " ".join(text.casefold().split())
