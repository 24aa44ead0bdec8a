"""Reading what the service sealed: the ring's field cipher that also opens subject-sealed tokens
with the keys in the test database (as the worker's does)."""

from __future__ import annotations

from sqlalchemy import Engine

from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.subject_keys import PgSubjectKeys, Sealer


def opening_cipher(engine: Engine, keyring: KeyRing) -> FieldCipher:
    return FieldCipher(keyring, Sealer(PgSubjectKeys(engine, keyring)))


def opened(cipher: FieldCipher, blob: bytes, context: str) -> object:
    """A sealed cell's value, its subject-sealed tokens opened too."""
    return cipher.reveal(cipher.open(blob, context=context))
