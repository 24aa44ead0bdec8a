"""Per-subject data keys (crypto-shredding): each client's personal fields are sealed under a key
of their own, and erasure destroys that key.

Envelope encryption: a subject's data key (DEK) is 32 random bytes, kept only wrapped by the key
ring (AEAD of the ring's suite under the ring's `subject-key/v1` subkey of its primary key, the
authenticated data naming the subject and the key id), in the `subject_keys` table. `SubjectKeys`
is the whole interface the service uses, so a KMS (generate / decrypt / schedule key deletion)
can replace `PgSubjectKeys` without touching a caller.

Destroying a key leaves a tombstone (`wrapped_dek` NULL, `destroyed_at` set): a destroyed key is
never made again for the same subject, so nothing new is sealed under a key nobody can open, and
tools can tell "erased" from "never had a key". What a PostgreSQL-held wrapped key cannot do: a
database backup taken before the erasure still holds the wrapped DEK, and with the key ring it
opens every token of that subject (docs/security.md, "Per-subject keys").
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert

from domain.sealed import ERASED, PREFIX, Token, parse, replace_tokens
from projections.crypto import AEAD, CipherSuite, FieldCipherError, KeySource, aead
from projections.tables import subject_keys

WRAP_PURPOSE = "subject-key/v1"
_NONCE = 12
_DEK = 32


class SubjectErased(Exception):
    """The subject's data key was destroyed (PIPL erasure): nothing can be sealed for them."""


@dataclass(frozen=True)
class DataKey:
    subject_id: str
    suite: CipherSuite
    key: bytes = field(repr=False)

    def cipher(self) -> AEAD:
        return aead(self.suite, self.key)


class SubjectKeys(Protocol):
    """A subject's data key: made once, read while it lives, destroyed on erasure."""

    def create(self, subject_id: str) -> DataKey:
        """The subject's live key, made on first call (idempotent: a retry gets the same key).
        Raises `SubjectErased` once the key was destroyed."""
        ...

    def get_many(self, subject_ids: Iterable[str]) -> Mapping[str, DataKey | None]:
        """Each subject's live key; None for a destroyed key, or one never made."""
        ...

    def destroy(self, subject_id: str) -> bool:
        """Destroys the key (idempotent); True when a live key was destroyed now."""
        ...


def _aad(subject_id: str, kid: str, suite: CipherSuite) -> bytes:
    return b"\0".join((subject_id.encode(), kid.encode(), suite.value.encode()))


class PgSubjectKeys:
    """Wrapped data keys in PostgreSQL, wrapped by the key ring."""

    def __init__(self, engine: Engine, ring: KeySource) -> None:
        self._engine = engine
        self._ring = ring

    def _wrapper(self, kid: str, suite: CipherSuite) -> AEAD:
        return aead(suite, self._ring.subkey(kid, WRAP_PURPOSE, suite))

    def _unwrap(self, subject_id: str, kid: str, suite: CipherSuite, blob: bytes) -> DataKey:
        try:
            dek = self._wrapper(kid, suite).decrypt(
                blob[:_NONCE], blob[_NONCE:], _aad(subject_id, kid, suite)
            )
        except InvalidTag:
            raise FieldCipherError(
                f"the data key of subject {subject_id!r} failed authentication under ring key "
                f"{kid!r}: wrong ring or altered row"
            ) from None
        return DataKey(subject_id, suite, dek)

    def create(self, subject_id: str) -> DataKey:
        # Read first: every command after a client's first seals under a key that exists, and
        # reading it is one statement, where making one (a fresh key wrapped, an insert, a
        # commit) is three; the insert below still settles two first sealings racing.
        with self._engine.connect() as conn:
            row = self._row(conn, subject_id)
            if row is None:
                kid, suite = self._ring.primary, self._ring.suite
                nonce = os.urandom(_NONCE)
                wrapped = nonce + self._wrapper(kid, suite).encrypt(
                    nonce, os.urandom(_DEK), _aad(subject_id, kid, suite)
                )
                conn.execute(
                    insert(subject_keys)
                    .values(
                        subject_id=subject_id,
                        kid=kid,
                        suite=suite.value,
                        wrapped_dek=wrapped,
                        created_at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing(index_elements=["subject_id"])
                )
                conn.commit()
                row = self._row(conn, subject_id)
                assert row is not None  # inserted, or another's insert won: either is there
        if row.wrapped_dek is None:
            raise SubjectErased(f"the personal data of {subject_id} was erased")
        return self._unwrap(subject_id, row.kid, CipherSuite(row.suite), bytes(row.wrapped_dek))

    @staticmethod
    def _row(conn: Connection, subject_id: str) -> Any:
        return conn.execute(
            select(subject_keys).where(subject_keys.c.subject_id == subject_id)
        ).first()

    def get_many(self, subject_ids: Iterable[str]) -> dict[str, DataKey | None]:
        wanted = sorted(set(subject_ids))
        found: dict[str, DataKey | None] = dict.fromkeys(wanted)
        if not wanted:
            return found
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(subject_keys).where(subject_keys.c.subject_id.in_(wanted))
            ).all()
        for row in rows:
            if row.wrapped_dek is not None:
                found[row.subject_id] = self._unwrap(
                    row.subject_id, row.kid, CipherSuite(row.suite), bytes(row.wrapped_dek)
                )
        return found

    def destroy(self, subject_id: str) -> bool:
        with self._engine.begin() as conn:
            return destroy_key(conn, subject_id)


def destroy_key(conn: Connection, subject_id: str) -> bool:
    """In the caller's transaction (the erasure's): the wrapped key is overwritten with NULL and
    a tombstone left, also for a subject that never had a key (so none is made later). True when
    a live key was destroyed now."""
    now = datetime.now(UTC)
    destroyed = conn.execute(
        subject_keys.update()
        .where(subject_keys.c.subject_id == subject_id, subject_keys.c.wrapped_dek.is_not(None))
        .values(wrapped_dek=None, destroyed_at=now)
    ).rowcount
    conn.execute(
        insert(subject_keys)
        .values(subject_id=subject_id, kid=None, suite=None, wrapped_dek=None, destroyed_at=now)
        .on_conflict_do_nothing(index_elements=["subject_id"])
    )
    return bool(destroyed)


def erased_subjects(engine: Engine, subject_ids: Iterable[str]) -> set[str]:
    """Which of the subjects had their key destroyed: all the codec server may know (its role
    reads `subject_id` and `destroyed_at` alone)."""
    wanted = sorted(set(subject_ids))
    if not wanted:
        return set()
    with engine.connect() as conn:
        rows = conn.execute(
            select(subject_keys.c.subject_id).where(
                subject_keys.c.subject_id.in_(wanted), subject_keys.c.destroyed_at.is_not(None)
            )
        )
        return set(rows.scalars())


class Sealer:
    """Seals and opens personal field values under their subject's data key."""

    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys

    def seal(self, key: DataKey, field_name: str, value: str) -> str:
        header = f"{PREFIX}{key.subject_id}:{field_name}:"
        nonce = os.urandom(_NONCE)
        sealed = key.cipher().encrypt(nonce, value.encode(), header.encode())
        return header + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    @staticmethod
    def open_with(key: DataKey | None, token: Token) -> str:
        """The token's plaintext, or `ERASED` when its key is gone."""
        if key is None:
            return ERASED
        body = base64.urlsafe_b64decode(token.body + "=" * (-len(token.body) % 4))
        try:
            plain = key.cipher().decrypt(body[:_NONCE], body[_NONCE:], token.header.encode())
        except InvalidTag:
            raise FieldCipherError(
                f"sealed {token.field} of subject {token.subject!r} failed authentication"
            ) from None
        return plain.decode()

    def open(self, value: str) -> str:
        token = parse(value)
        if token is None:
            return value  # plaintext (a legacy value) is its own plaintext
        return self.open_with(self.keys.get_many([token.subject])[token.subject], token)

    def reveal(self, value: Any) -> Any:
        """A JSON-like value with every token opened (or shown as `ERASED`): one key lookup
        for all the subjects it names."""
        from domain.sealed import tokens_in

        found = tokens_in(value)
        if not found:
            return value
        keys = self.keys.get_many(t.subject for t in found)
        return replace_tokens(value, lambda t: self.open_with(keys.get(t.subject), t))
