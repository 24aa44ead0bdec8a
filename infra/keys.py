"""The payload-encryption key ring and the codec server's token: where secrets come from.

Ring format: `kid:base64key,kid:base64key` (commas or newlines; `#` starts a comment line). The
first key encrypts, every key decrypts, so rotation is "prepend a new key, keep the old ones for
as long as data under them is retained". Raw ring keys are never used directly: each purpose
(Temporal payloads, projection fields, blind indexes) gets its own HKDF-derived subkey, so a
ciphertext made for one purpose can never be opened as another; and each cipher suite its own
(HKDF-SHA256 for AES-256-GCM, HKDF-SM3 for SM4-GCM), so the two never share a key. The ring
carries the suite new data is encrypted under (`CLIENT_CARE_CIPHER_SUITE`); what was encrypted
records its suite, and any key of the ring opens it under either.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from infra import settings as _settings
from infra.settings import Settings
from projections.crypto import CipherSuite

AES = CipherSuite.AES_256_GCM

log = logging.getLogger(__name__)

# Module attributes (not constants baked into functions) so tests and the dev stack can point
# them elsewhere.
DEV_KEY_FILE = _settings.DATA_DIR / "keys"
DEV_CODEC_TOKEN_FILE = _settings.DATA_DIR / "codec-token"

# Key ids travel in clear (payload metadata, sealed-field headers): short, printable, no secrets.
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MIN_CODEC_TOKEN_LENGTH = 32
# The purposes subkeys are derived for (HKDF info strings): each names one use of the ring.
PAYLOAD_PURPOSE = "temporal-payload/v1"


class KeyRingError(Exception):
    """A key ring or secret that cannot be used. Messages name key ids, never key material."""


@dataclass(frozen=True)
class KeyRing:
    # repr=False: a ring printed in a traceback or log line must not print the keys.
    keys: Mapping[str, bytes] = field(repr=False)
    primary: str
    suite: CipherSuite = AES
    """What new payloads and sealed fields are encrypted under, and blind indexes hashed with."""

    @classmethod
    def parse(cls, text: str, suite: CipherSuite | str = AES) -> KeyRing:
        keys: dict[str, bytes] = {}
        for line in text.splitlines():
            if line.strip().startswith("#"):
                continue
            for item in (part.strip() for part in line.split(",")):
                if not item:
                    continue
                kid, sep, encoded = item.partition(":")
                kid = kid.strip()
                if not sep or not kid:
                    raise KeyRingError("each key ring entry must be 'key-id:base64-key'")
                if not _KID.fullmatch(kid):
                    raise KeyRingError(
                        f"key id {kid[:32]!r} must be 1-32 characters of letters, digits, "
                        "'.', '_' or '-'"
                    )
                try:
                    key = base64.b64decode(encoded.strip(), validate=True)
                except ValueError:
                    raise KeyRingError(f"key {kid!r} is not valid base64") from None
                if len(key) != 32:
                    raise KeyRingError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
                if kid in keys:
                    raise KeyRingError(f"key id {kid!r} appears twice")
                keys[kid] = key
        if not keys:
            raise KeyRingError("the key ring is empty")
        return cls(keys=keys, primary=next(iter(keys)), suite=CipherSuite(suite))

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyRingError(
                f"no key with id {kid!r} in CLIENT_CARE_KEYS (ring holds {self.key_ids()}); "
                "the data was encrypted with a key this ring does not hold"
            ) from None

    def key_ids(self) -> list[str]:
        return list(self.keys)

    @property
    def index_kid(self) -> str:
        """The key blind indexes are derived from: the oldest (last) entry, so prepending a new
        primary key leaves every stored hash valid. Retiring it means re-indexing."""
        return next(reversed(list(self.keys)))

    def subkey(self, kid: str, purpose: str, suite: CipherSuite = AES) -> bytes:
        return derive_key(self.key(kid), purpose, suite)

    def for_purpose(self, purpose: str) -> PurposeRing:
        """The subkeys of one purpose only, under both suites, for a service that does only
        that (the codec server decrypts payloads, so it never needs the field or blind-index
        keys)."""
        return PurposeRing(
            purpose=purpose,
            keys={kid: self.subkey(kid, purpose) for kid in self.keys},
            primary=self.primary,
            sm_keys={kid: self.subkey(kid, purpose, CipherSuite.SM4_GCM) for kid in self.keys},
            suite=self.suite,
        )


@dataclass(frozen=True)
class PurposeRing:
    """A ring of subkeys already derived for one purpose, in the ring's order; it answers
    `subkey` for that purpose and refuses any other, so it can stand in for a `KeyRing`
    wherever only that purpose is used. Format: as the ring's, `kid:base64subkey,...`, then the
    SM4-GCM suite's subkeys as `kid+sm:base64subkey,...` (`+` is never in a key id)."""

    purpose: str
    keys: Mapping[str, bytes] = field(repr=False)
    primary: str
    sm_keys: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    suite: CipherSuite = AES

    @classmethod
    def parse(cls, text: str, purpose: str, suite: CipherSuite | str = AES) -> PurposeRing:
        aes, sm = [], []
        for line in text.splitlines():
            if line.strip().startswith("#"):
                continue
            for item in (part.strip() for part in line.split(",")):
                kid, sep, key = item.partition(":")
                if kid.strip().endswith("+sm"):
                    sm.append(f"{kid.strip()[:-3]}{sep}{key}")
                elif item:
                    aes.append(item)
        # same syntax and checks as the ring's; these keys are used as they are
        ring = KeyRing.parse(",".join(aes))
        sm_keys = KeyRing.parse(",".join(sm)).keys if sm else {}
        if set(sm_keys) - set(ring.keys):
            raise KeyRingError("an SM4-GCM subkey names a key id the ring does not hold")
        return cls(
            purpose=purpose,
            keys=ring.keys,
            primary=ring.primary,
            sm_keys=sm_keys,
            suite=CipherSuite(suite),
        )

    def format(self) -> str:
        entries = [f"{kid}:{base64.b64encode(key).decode()}" for kid, key in self.keys.items()]
        entries += [f"{k}+sm:{base64.b64encode(v).decode()}" for k, v in self.sm_keys.items()]
        return ",".join(entries)

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyRingError(
                f"no {self.purpose} subkey with id {kid!r} (ring holds {list(self.keys)})"
            ) from None

    @property
    def index_kid(self) -> str:
        return next(reversed(list(self.keys)))

    def subkey(self, kid: str, purpose: str, suite: CipherSuite = AES) -> bytes:
        if purpose != self.purpose:
            raise KeyRingError(
                f"this ring holds only the {self.purpose} subkeys, not those for {purpose}"
            )
        if suite is AES:
            return self.key(kid)
        self.key(kid)  # an unknown key id is named as such
        try:
            return self.sm_keys[kid]
        except KeyError:
            raise KeyRingError(
                f"no SM4-GCM {self.purpose} subkey with id {kid!r}: export the subkeys again "
                "with `python -m infra.keys payload-keys`"
            ) from None


def derive_key(key: bytes, purpose: str, suite: CipherSuite = AES) -> bytes:
    """A 256-bit subkey for one purpose (key separation between codec, fields and indexes) and
    suite: HKDF-SHA256 for AES-256-GCM (as every earlier subkey), HKDF-SM3 for SM4-GCM, so the
    SM suite's key hierarchy uses SM3 alone."""
    if suite is AES:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"client-care/{purpose}".encode()
        ).derive(key)
    info = f"client-care/{purpose}/{suite.value}".encode()
    return HKDF(algorithm=hashes.SM3(), length=32, salt=None, info=info).derive(key)


def new_key_entry(kid: str | None = None) -> str:
    kid = kid or f"k{secrets.token_hex(4)}"
    if not _KID.fullmatch(kid):
        raise KeyRingError(f"key id {kid!r} is not a valid key id")
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def load_keyring(settings: Settings, *, create_dev_key: bool = False) -> KeyRing:
    """CLIENT_CARE_KEYS holds the ring itself or a file's path; unset means the dev key file."""
    value = settings.client_care_keys
    if value:
        if ":" in value:
            return KeyRing.parse(value, settings.client_care_cipher_suite)
        path = Path(value).expanduser()
        if not path.is_file():
            raise KeyRingError(
                "CLIENT_CARE_KEYS is neither a key ring ('kid:base64key,...') nor a readable file"
            )
        return KeyRing.parse(
            read_secret_file(path, "CLIENT_CARE_KEYS"), settings.client_care_cipher_suite
        )
    text = _read_or_create(
        DEV_KEY_FILE,
        lambda: new_key_entry("dev1") + "\n",
        create=create_dev_key,
        missing=(
            f"CLIENT_CARE_KEYS is not set and there is no dev key ring at {DEV_KEY_FILE}; "
            "run `make run` once or set CLIENT_CARE_KEYS"
        ),
    )
    return KeyRing.parse(text, settings.client_care_cipher_suite)


def load_payload_keys(settings: Settings) -> KeyRing | PurposeRing:
    """What the codec server decrypts with: CLIENT_CARE_PAYLOAD_KEYS (the payload subkeys, from
    `python -m infra.keys payload-keys`; the ring itself or a file's path) when set, so a
    deployment hands it nothing else; else the whole ring, as the dev stack does."""
    value = settings.client_care_payload_keys
    if not value:
        return load_keyring(settings)
    if ":" not in value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise KeyRingError(
                "CLIENT_CARE_PAYLOAD_KEYS is neither a ring ('kid:base64key,...') nor a "
                "readable file"
            )
        value = read_secret_file(path, "CLIENT_CARE_PAYLOAD_KEYS")
    return PurposeRing.parse(value, PAYLOAD_PURPOSE, settings.client_care_cipher_suite)


def load_codec_token(settings: Settings, *, create_dev_token: bool = False) -> str:
    """The bearer token the codec server requires: CODEC_SERVER_TOKEN, else `.data/codec-token`
    (created with `create_dev_token`, as the dev stack does)."""
    token = settings.codec_server_token
    if token is None:
        token = _read_or_create(
            DEV_CODEC_TOKEN_FILE,
            lambda: secrets.token_urlsafe(32) + "\n",
            create=create_dev_token,
            missing=(
                f"CODEC_SERVER_TOKEN is not set and there is no dev token at "
                f"{DEV_CODEC_TOKEN_FILE}; run `make run` once or set CODEC_SERVER_TOKEN"
            ),
        )
    token = token.strip()
    if len(token) < MIN_CODEC_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise KeyRingError(
            f"the codec server token must be at least {MIN_CODEC_TOKEN_LENGTH} characters "
            "without spaces (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return token


def read_secret_file(path: Path, what: str) -> str:
    """Refuses a secret file others may write (they could plant a key whose data they can read);
    warns when others may read it."""
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyRingError(f"{what} file {path} is writable by group or others; chmod 600 it")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s file %s is readable by group or others; chmod 600 it", what, path)
    return path.read_text()


def _read_or_create(path: Path, make: Callable[[], str], *, create: bool, missing: str) -> str:
    if path.exists():
        return read_secret_file(path, path.name)
    if not create:
        raise KeyRingError(missing)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then linked into place: the secret is never visible
    # with loose permissions, and two processes racing to create it agree on one value.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
    finally:
        tmp.unlink(missing_ok=True)
    return read_secret_file(path, path.name)


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.keys payload-keys`: print the payload subkeys of CLIENT_CARE_KEYS, the
    only secret the codec server needs (CLIENT_CARE_PAYLOAD_KEYS)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m infra.keys", description=main.__doc__)
    parser.add_argument("what", choices=["payload-keys"])
    parser.parse_args(argv)
    try:
        ring = load_keyring(_settings.get_settings())
    except KeyRingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    print(ring.for_purpose(PAYLOAD_PURPOSE).format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
