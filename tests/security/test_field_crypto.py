"""Personal fields at rest: sealed values, blind-index lookups, and what the disk really holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select, text

from infra.keys import KeyRing, KeyRingError, new_key_entry
from projections.crypto import FieldCipher, FieldCipherError, column_context, normalise
from projections.tables import clients
from tests.security.probe_app import Person


def test_seal_and_open_bind_the_context() -> None:
    cipher = FieldCipher(KeyRing.parse(new_key_entry("k1")))
    blob = cipher.seal({"name": "王小明", "aum": 1}, context="client:C-1")
    assert "王小明".encode() not in blob
    assert cipher.open(blob, context="client:C-1") == {"name": "王小明", "aum": 1}
    assert cipher.seal("x", context="c") != cipher.seal("x", context="c")  # fresh nonce
    with pytest.raises(FieldCipherError, match="wrong context"):
        cipher.open(blob, context="client:C-2")  # a value copied into another row
    with pytest.raises(FieldCipherError, match="not a sealed field value"):
        cipher.open(b"plain text")
    altered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(FieldCipherError, match="altered"):
        cipher.open(altered, context="client:C-1")


def test_rotation_keeps_old_values_and_blind_indexes() -> None:
    old_entry = new_key_entry("old")
    old = FieldCipher(KeyRing.parse(old_entry))
    rotated = FieldCipher(KeyRing.parse(f"{new_key_entry('new')},{old_entry}"))
    blob = old.seal("王小明", context="c")
    assert rotated.open(blob, context="c") == "王小明"
    assert rotated.blind("13812345678") == old.blind("13812345678")
    resealed = rotated.reseal(blob, context="c")
    assert rotated.key_id(resealed) == "new" and rotated.open(resealed, context="c") == "王小明"
    with pytest.raises(KeyRingError, match="no key with id 'new'"):
        old.open(resealed, context="c")


def test_payload_and_field_keys_are_separate() -> None:
    """The same ring key never encrypts two kinds of data: subkeys are derived per purpose."""
    ring = KeyRing.parse(new_key_entry("k1"))
    assert len({ring.subkey("k1", p) for p in ("a", "b")}) == 2
    assert ring.subkey("k1", "a") != ring.keys["k1"]


@pytest.mark.parametrize(
    ("variants", "normal"),
    [
        (["13812345678", "138 1234 5678", "138-1234-5678", "+86 138-1234-5678",
          "+8613812345678", "0086 13812345678", "86-138-1234-5678", "１３８１２３４５６７８"],
         "13812345678"),
        (["11010519491231002X", "11010519491231002x", "110105 19491231 002X",
          "110105-19491231-002x"], "11010519491231002X"),
        (["Wang.XiaoMing@Example.cn", " wang.xiaoming@example.cn "], "wang.xiaoming@example.cn"),
        (["0044 20 7946 0958", "+44 20 7946 0958"], "+442079460958"),
    ],
)  # fmt: skip
def test_normalisation(variants: list[str], normal: str) -> None:
    assert {normalise(v) for v in variants} == {normal}


def test_distinct_values_stay_distinct() -> None:
    assert normalise("wang-xm@example.cn") != normalise("wangxm@example.cn")
    assert normalise("13812345678") != normalise("13812345679")


def _find(engine: Engine, column: str, cipher: FieldCipher, query: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(clients.c.client_id).where(clients.c[column] == cipher.blind(query))
        )
        return [r.client_id for r in rows]


def test_clients_are_found_by_phone_or_id_number(
    db: Engine,
    cipher: FieldCipher,
    insert_client: Callable[..., dict],
    person: Person,
) -> None:
    insert_client("C-1", person)  # stored from "+86 138-1234-5678" and "...002X"
    other = person.model_copy(update={"phone": "13900001111", "id_number": "110105194912310037"})
    insert_client("C-2", other)
    for query in ("13812345678", "138 1234 5678", "+8613812345678", "0086-138-1234-5678"):
        assert _find(db, "phone_hash", cipher, query) == ["C-1"], query
    for query in ("11010519491231002x", "110105 19491231 002X"):
        assert _find(db, "id_number_hash", cipher, query) == ["C-1"], query
    assert _find(db, "email_hash", cipher, "WANG.XIAOMING@example.cn") == ["C-1", "C-2"]
    assert _find(db, "phone_hash", cipher, "13812345670") == []
    with db.connect() as conn:
        sealed = conn.execute(select(clients.c.name_enc).where(clients.c.client_id == "C-1"))
        context = column_context("clients", "name_enc", "C-1")
        assert cipher.open(sealed.scalar_one(), context=context) == person.name


def test_the_table_files_hold_no_plaintext(
    db: Engine, insert_client: Callable[..., dict], person: Person
) -> None:
    insert_client("C-DISK-1", person, advisor_id="ADVISOR-ON-DISK")
    with db.connect() as conn:
        conn.execute(text("CHECKPOINT"))  # the rows are on disk, not only in shared buffers
        files = [
            conn.execute(text("SELECT pg_relation_filepath(:r)"), {"r": rel}).scalar_one()
            for rel in conn.execute(
                text(
                    "SELECT oid::regclass::text FROM pg_class WHERE oid = 'clients'::regclass OR"
                    " oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'clients'::regclass)"
                )
            ).scalars()
        ]
        blob = b"".join(
            conn.execute(text("SELECT pg_read_binary_file(:f)"), {"f": f}).scalar_one()
            for f in files
        )
    # the scan reads the real rows: a column stored in clear is there...
    assert b"ADVISOR-ON-DISK" in blob
    # ...and the person's data is not, in any form
    from tests.security.pii_scan import find_secrets

    secrets = [*person.secrets(), normalise(person.phone), normalise(person.id_number)]
    assert find_secrets(blob, secrets, "clients table files") == []
