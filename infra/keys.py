"""The payload-encryption key ring: `kid:base64key,...`, the first key encrypts, all decrypt."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from infra.settings import DATA_DIR, Settings

DEV_KEY_FILE = DATA_DIR / "keys"


class KeyRingError(Exception):
    pass


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    primary: str

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        primary = ""
        for item in (part.strip() for part in text.replace("\n", ",").split(",")):
            if not item or item.startswith("#"):
                continue
            kid, sep, encoded = item.partition(":")
            if not sep or not kid:
                raise KeyRingError("each key ring entry must be 'key-id:base64-key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise KeyRingError(f"key {kid!r} is not valid base64") from exc
            if len(key) != 32:
                raise KeyRingError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
            if kid in keys:
                raise KeyRingError(f"key id {kid!r} appears twice")
            keys[kid] = key
            primary = primary or kid
        if not keys:
            raise KeyRingError("the key ring is empty")
        return cls(keys=keys, primary=primary)

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyRingError(
                f"no key with id {kid!r} in CLIENT_CARE_KEYS; the data was encrypted with a key "
                "this ring does not hold"
            ) from None


def new_key_entry(kid: str | None = None) -> str:
    kid = kid or f"k{secrets.token_hex(4)}"
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def load_keyring(settings: Settings, *, create_dev_key: bool = False) -> KeyRing:
    """CLIENT_CARE_KEYS holds the ring itself or a file's path; unset means the dev key file."""
    value = settings.client_care_keys
    if value:
        path = Path(value)
        text = path.read_text() if ":" not in value and path.exists() else value
        return KeyRing.parse(text)
    if not DEV_KEY_FILE.exists():
        if not create_dev_key:
            raise KeyRingError(
                "CLIENT_CARE_KEYS is not set and there is no dev key ring at "
                f"{DEV_KEY_FILE}; run `make run` once or set CLIENT_CARE_KEYS"
            )
        DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEV_KEY_FILE.write_text(new_key_entry("dev1") + "\n")
        DEV_KEY_FILE.chmod(0o600)
    return KeyRing.parse(DEV_KEY_FILE.read_text())
