"""Per-subject data keys on real PostgreSQL: made once, wrapped by the ring and bound to their
subject, sealing fields bound to their place, and destroyed for good by an erasure."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from domain.sealed import ERASED, is_sealed, parse, tokens_in
from infra.keys import KeyRing, new_key_entry
from projections.crypto import FieldCipherError
from projections.subject_keys import PgSubjectKeys, Sealer, SubjectErased, destroy_key
from projections.tables import subject_keys


def test_a_subject_key_is_made_once_and_seals_fields_bound_to_their_place(
    db: Engine, keyring: KeyRing
) -> None:
    keys = PgSubjectKeys(db, keyring)
    first = keys.create("c-1")
    assert keys.create("c-1").key == first.key, "an onboarding retry gets the same key"
    other = keys.create("c-2")
    assert other.key != first.key

    sealer = Sealer(keys)
    token = sealer.seal(first, "phone", "+8613800138000")
    assert is_sealed(token) and "13800138000" not in token
    assert token.startswith("pii:v1:c-1:phone:")
    assert sealer.open(token) == "+8613800138000"
    assert sealer.open("plain legacy value") == "plain legacy value"
    assert sealer.reveal({"basic": {"phone": token, "n": [token]}}) == {
        "basic": {"phone": "+8613800138000", "n": ["+8613800138000"]}
    }

    # moved into another field, or claimed for another subject, it does not open
    moved = token.replace(":phone:", ":name:")
    with pytest.raises(FieldCipherError):
        sealer.open(moved)
    with pytest.raises(FieldCipherError):
        sealer.open(token.replace(":c-1:", ":c-2:"))

    with db.connect() as conn:
        row = conn.execute(select(subject_keys).where(subject_keys.c.subject_id == "c-1")).one()
    assert row.kid == keyring.primary and first.key not in bytes(row.wrapped_dek)
    # a wrapped key copied to another subject's row does not unwrap: AAD names the subject
    with db.begin() as conn:
        conn.execute(
            update(subject_keys)
            .where(subject_keys.c.subject_id == "c-2")
            .values(wrapped_dek=row.wrapped_dek)
        )
    with pytest.raises(FieldCipherError):
        keys.get_many(["c-2"])
    # another ring cannot unwrap it at all
    stranger = PgSubjectKeys(db, KeyRing.parse(new_key_entry(keyring.primary), keyring.suite))
    with pytest.raises(FieldCipherError):
        stranger.get_many(["c-1"])


def test_destroying_the_key_erases_every_copy_of_its_tokens(db: Engine, keyring: KeyRing) -> None:
    keys = PgSubjectKeys(db, keyring)
    sealer = Sealer(keys)
    tokens = [
        sealer.seal(keys.create("c-9"), f, v) for f, v in (("name", "Zhang"), ("email", "z@x.cn"))
    ]
    exported = {"client": {"name": tokens[0], "email": tokens[1], "tier": "gold"}}

    assert keys.destroy("c-9") is True
    assert keys.destroy("c-9") is False, "destroying twice is a no-op"
    assert sealer.reveal(exported) == {"client": {"name": ERASED, "email": ERASED, "tier": "gold"}}
    assert [t.field for t in tokens_in(exported)] == ["name", "email"]
    with db.connect() as conn:
        row = conn.execute(select(subject_keys).where(subject_keys.c.subject_id == "c-9")).one()
    assert row.wrapped_dek is None and row.destroyed_at is not None
    with pytest.raises(SubjectErased):
        keys.create("c-9")  # never made again: nothing new is sealed for an erased subject

    # a subject erased before it ever had a key keeps a tombstone all the same
    with db.begin() as conn:
        assert destroy_key(conn, "c-never") is False
    with pytest.raises(SubjectErased):
        keys.create("c-never")
    assert parse("pii:v1:c-1:phone:short") is None, "too short to be a token: plaintext"
