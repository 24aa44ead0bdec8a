"""Personal fields at rest: an AEAD under the payload key ring, plus keyed-hash blind indexes.

Two cipher suites (`CipherSuite`, chosen by `CLIENT_CARE_CIPHER_SUITE`, carried by the ring):
AES-256-GCM with HMAC-SHA256 blind indexes (the default), or China's commercial ciphers, SM4-GCM
with HMAC-SM3 blind indexes and HKDF-SM3 subkeys (GB/T 32907, GB/T 32905). The suite a value was
sealed under is in its version byte, so rows written under either suite open under both.

Sealed value layout: version byte, key-id length, key id, 12-byte nonce, ciphertext and tag.
The version byte names the suite and the format (4: AES-256-GCM, 5: SM4-GCM; 2 and 3 are the
same suites in format 1, which earlier rows hold). The authenticated data binds the version, the
key id and the caller's `context`: pass the cell's identity, `column_context(table, column, row
key...)`, so a value copied into another row, or another column of the same row, fails to open.
Format 1 values of the `clients` and `service_tasks` columns were bound to their row only
(`client:<id>`, shared by `profile_enc` and `name_enc`); `open` gives those the row context they
were sealed with (`_FORMAT1_ROWS`), and `reseal` moves them to the current format.

Blind indexes are an HMAC of a normalised value under a key derived from the ring's oldest key
(`KeyRing.index_kid`): prepending a new primary key keeps every stored hash valid; retiring
that oldest key, or changing the suite, means re-indexing (`auditor.py rebuild-projections`).
Phone numbers and ID numbers are low-entropy, so the index key must stay as secret as the
encryption keys: with it, hashes can be brute-forced.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.sealed import ERASED, tokens_in


class CipherSuite(StrEnum):
    AES_256_GCM = "aes-256-gcm"
    SM4_GCM = "sm4-gcm"


_TAG = 16


class SM4GCM:
    """SM4 in GCM mode with `AESGCM`'s interface (`cryptography` offers SM4-GCM through its
    `Cipher` API only): the tag is appended to the ciphertext, a bad one raises `InvalidTag`."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("SM4 takes a 128-bit key")
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        enc = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated_data)
        return enc.update(data) + enc.finalize() + enc.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        if len(data) < _TAG:
            raise InvalidTag()
        dec = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, data[-_TAG:])).decryptor()
        dec.authenticate_additional_data(associated_data)
        return dec.update(data[:-_TAG]) + dec.finalize()


AEAD = AESGCM | SM4GCM


def aead(suite: CipherSuite, subkey: bytes) -> AEAD:
    """The AEAD of a suite over a 32-byte subkey (SM4 takes its first 128 bits: the HKDF-SM3
    output of that length)."""
    return AESGCM(subkey) if suite is CipherSuite.AES_256_GCM else SM4GCM(subkey[:16])


def index_hash(suite: CipherSuite) -> hashes.HashAlgorithm:
    return hashes.SHA256() if suite is CipherSuite.AES_256_GCM else hashes.SM3()


# The sealed-value version byte of each suite and format. Format 1 (2, 3) is what rows written
# before each column had a context of its own hold; every new value is format 2.
_FORMAT = 2
_VERSIONS = {
    (CipherSuite.AES_256_GCM, 1): 2,
    (CipherSuite.SM4_GCM, 1): 3,
    (CipherSuite.AES_256_GCM, 2): 4,
    (CipherSuite.SM4_GCM, 2): 5,
}
_SUITES = {v: k for k, v in _VERSIONS.items()}
# The row contexts format 1 values of these columns were sealed with, shared by the row's columns
# (`client:<id>`). The other columns were bound to their cell from the start (complaints,
# complaint_events: `<table>.<column>:<key>`), and sealed files to their own context.
_FORMAT1_ROWS = {
    "clients.profile_enc": "client",
    "clients.name_enc": "client",
    "service_tasks.outcome_enc": "service_task",
}
_NONCE = 12
FIELD_PURPOSE = "projection-field/v1"
INDEX_PURPOSE = "blind-index/v1"

_SEPARATORS = re.compile(r"[\s\-().]")
_NUMBERISH = re.compile(r"\+?\d+[Xx]?")
# A mainland mobile with its country code in any of the ways people write it.
_CN_MOBILE = re.compile(r"(?:\+86|0086|86)(1[3-9]\d{9})")


def column_context(table: str, column: str, *key: object) -> str:
    """What a sealed cell is bound to: `<table>.<column>:<row key...>` (the row's primary key)."""
    return f"{table}.{column}:" + ":".join(str(k) for k in key)


def _format1_context(context: str) -> str:
    column, sep, key = context.partition(":")
    row = _FORMAT1_ROWS.get(column)
    return f"{row}:{key}" if sep and row else context


class KeySource(Protocol):
    """What the cipher needs of a key ring (`infra.keys.KeyRing` is one): the read models sit
    below the wiring that loads keys, so they name the shape, not the loader."""

    @property
    def keys(self) -> Mapping[str, bytes]: ...
    @property
    def primary(self) -> str: ...
    @property
    def index_kid(self) -> str: ...
    @property
    def suite(self) -> CipherSuite: ...
    def key(self, kid: str) -> bytes: ...
    def subkey(self, kid: str, purpose: str, suite: CipherSuite = ...) -> bytes: ...


class Opener(Protocol):
    """What opens values sealed under a subject's own key (`projections.subject_keys.Sealer`)."""

    def reveal(self, value: Any) -> Any: ...


class FieldCipherError(ValueError):
    """A sealed value that cannot be opened. Messages never include the value."""


class FieldCipher:
    """`seal`/`open` personal values; `blind` gives a stable lookup hash of a normalised value."""

    def __init__(self, keyring: KeySource, subjects: Opener | None = None) -> None:
        self._ring = keyring
        self.subjects = subjects
        """Opens the subject-sealed tokens inside values (`reveal`); the activity deps give it
        one on the read models' database when none is given."""
        self._suite = keyring.suite
        # both suites open: rows sealed before a change of suite stay readable
        self._aead = {
            (kid, suite): aead(suite, keyring.subkey(kid, FIELD_PURPOSE, suite))
            for kid in keyring.keys
            for suite in CipherSuite
        }
        self._index_key = keyring.subkey(keyring.index_kid, INDEX_PURPOSE, self._suite)

    @property
    def suite(self) -> CipherSuite:
        return self._suite

    @property
    def ring(self) -> KeySource:
        return self._ring

    def reveal(self, value: Any) -> Any:
        """`value` (JSON-like) with every subject-sealed token opened, or `[erased]` where its
        subject's key was destroyed; plaintext passes as it is."""
        if not tokens_in(value):
            return value
        if self.subjects is None:
            raise FieldCipherError("a sealed personal value, and no subject keys to open it")
        return self.subjects.reveal(value)

    def blind_personal(self, value: str | None) -> str | None:
        """The blind index of a personal value, sealed or not; None once it is erased."""
        plain = self.reveal(value)
        return None if plain == ERASED else self.blind(plain)

    def seal(self, value: Any, *, context: str = "") -> bytes:
        kid = self._ring.primary.encode()
        header = bytes([_VERSIONS[(self._suite, _FORMAT)], len(kid)]) + kid
        nonce = os.urandom(_NONCE)
        plain = json.dumps(value, ensure_ascii=False, default=str).encode()
        cipher = self._aead[(self._ring.primary, self._suite)]
        sealed = cipher.encrypt(nonce, plain, header + context.encode())
        return header + nonce + sealed

    def open(self, blob: bytes, *, context: str = "") -> Any:
        header, kid = self._header(blob)
        body = bytes(blob[len(header) :])
        suite, form = _SUITES[header[0]]
        cipher = self._aead.get((kid, suite))
        if cipher is None:
            self._ring.key(kid)  # raises KeyRingError naming the missing key id
            raise AssertionError("unreachable")
        # The version byte is authenticated: a current value relabelled as format 1, to be
        # opened under the shared row context, fails like any altered value.
        bound = context if form == _FORMAT else _format1_context(context)
        try:
            plain = cipher.decrypt(body[:_NONCE], body[_NONCE:], header + bound.encode())
        except InvalidTag:
            raise FieldCipherError(
                f"sealed value under key {kid!r} failed authentication: wrong key, wrong "
                "context or altered data"
            ) from None
        return json.loads(plain)

    def key_id(self, blob: bytes) -> str:
        return self._header(blob)[1]

    def suite_of(self, blob: bytes) -> CipherSuite:
        return _SUITES[self._header(blob)[0][0]][0]

    def is_current(self, blob: bytes) -> bool:
        """Sealed under the primary key, the ring's suite and the current format."""
        header, kid = self._header(blob)
        return kid == self._ring.primary and _SUITES[header[0]] == (self._suite, _FORMAT)

    def reseal(self, blob: bytes, *, context: str = "") -> bytes:
        """Re-encrypts under the primary key, the ring's suite and the current format (key or
        suite rotation; a format 1 value bound to its cell from then on)."""
        if self.is_current(blob):
            return blob
        return self.seal(self.open(blob, context=context), context=context)

    def blind(self, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        mac = hmac.HMAC(self._index_key, index_hash(self._suite))
        mac.update(normalise(value).encode())
        return mac.finalize().hex()

    @staticmethod
    def _header(blob: bytes) -> tuple[bytes, str]:
        if not blob or len(blob) < 2 or blob[0] not in _SUITES:
            raise FieldCipherError("not a sealed field value (or an unsupported format version)")
        n = blob[1]
        if len(blob) < 2 + n + _NONCE + _TAG:
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
