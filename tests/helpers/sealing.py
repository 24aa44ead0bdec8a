"""Reading what the service sealed: the ring's field cipher that also opens subject-sealed tokens
with the keys in the test database (as the worker's does)."""

from __future__ import annotations

import json
import os

from sqlalchemy import Engine, select, update

from infra.keys import KeyRing
from projections.crypto import FIELD_PURPOSE, CipherSuite, FieldCipher, aead, column_context
from projections.subject_keys import PgSubjectKeys, Sealer


def opening_cipher(engine: Engine, keyring: KeyRing) -> FieldCipher:
    return FieldCipher(keyring, Sealer(PgSubjectKeys(engine, keyring)))


def opened(cipher: FieldCipher, blob: bytes, context: str) -> object:
    """A sealed cell's value, its subject-sealed tokens opened too."""
    return cipher.reveal(cipher.open(blob, context=context))


# The row contexts cells were sealed with before each column had its own (format 1).
FORMAT1_ROWS = {
    "clients.profile_enc": "client",
    "clients.name_enc": "client",
    "service_tasks.outcome_enc": "service_task",
}


def as_format1(cipher: FieldCipher, blob: bytes, context: str) -> bytes:
    """`blob` sealed again as a release before column contexts would have: version 2 or 3,
    bound to the row context of then (written out here, so the test does not lean on the
    reading side's own table)."""
    value = cipher.open(blob, context=context)
    column, _, key = context.partition(":")
    bound = f"{FORMAT1_ROWS[column]}:{key}" if column in FORMAT1_ROWS else context
    ring, suite = cipher.ring, cipher.suite
    kid = ring.primary.encode()
    header = bytes([2 if suite is CipherSuite.AES_256_GCM else 3, len(kid)]) + kid
    nonce = os.urandom(12)
    plain = json.dumps(value, ensure_ascii=False).encode()
    sealer = aead(suite, ring.subkey(ring.primary, FIELD_PURPOSE, suite))
    return header + nonce + sealer.encrypt(nonce, plain, header + bound.encode())


def rewrite_as_format1(engine: Engine, cipher: FieldCipher) -> int:
    """Every sealed read-model cell rewritten in format 1; returns how many."""
    from audit.reseal import sealed_columns

    done = 0
    for table, column in sealed_columns():
        key = list(table.primary_key.columns)
        with engine.begin() as conn:
            rows = conn.execute(select(*key, table.c[column]).where(table.c[column].is_not(None)))
            for row in rows.all():
                row_key, blob = tuple(row[: len(key)]), bytes(row[len(key)])
                old = as_format1(cipher, blob, column_context(table.name, column, *row_key))
                conn.execute(
                    update(table)
                    .where(*(k == v for k, v in zip(key, row_key, strict=True)))
                    .values({column: old})
                )
                done += 1
    return done
