"""Each sealed read-model column has a context of its own: a value copied into another column of
the same row, or into another client's row, does not open; rows sealed before (format 1, bound to
the row only) still read, and `auditor.py reseal-projections` moves them to the current format.

Real PostgreSQL; rows written by the client projection's own row functions, read back through
the subject-request copy (`activities.subject_requests.gather`), which opens every sealed column
of a client."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

import auditor
from activities.clients import ClientRecord, TaskRecord, client_row, task_row
from activities.subject_requests import gather
from domain.client import ClientFile
from infra.keys import KeyRing, new_key_entry
from projections.crypto import CipherSuite, FieldCipher, FieldCipherError, column_context
from projections.tables import access_log, clients, complaints, service_tasks
from tests.helpers.records import client_record

AT = datetime(2027, 3, 15, 2, 30, tzinfo=UTC)

# Sealed on main before this change (commit 90ebb67) under a fixed test key, with the row
# contexts of then (`client:C-OLD`, `service_task:T-OLD`): what every earlier row holds.
LEGACY_KEY = "legacy-2026:" + base64.b64encode(bytes(range(32))).decode()
LEGACY: dict[CipherSuite, dict[str, str]] = {
    CipherSuite.AES_256_GCM: {
        "profile_enc": "020b6c65676163792d32303236bd30ac4e0241f0efb231ff94720ad383604dea8dc34566ad"
        "c5594e3097675b747aebd74ea0af3cdf350b225814744a0b0b0ff9de5e7fc63c8e193eed08ef66653ba3fd"
        "43c6e8c64c291ba0415087bdf1a02c820412edfdec2be7a9de62ff8296f4f997e4eeb28ff50aa84b",
        "name_enc": "020b6c65676163792d3230323617c47be460c624d09d9500955e104b1c78d910a68ba7f82f"
        "36f36e6615e88c59776fb757e2085ab5d129",
        "outcome_enc": "020b6c65676163792d3230323647673a64c590237bb6ffe74e248eab88874ee2c647b084"
        "a075d3598d6affb759c4305bf8af6f3a0bd22711ae0e8a056a033a96245b8ee11656fb8fed38b722",
    },
    CipherSuite.SM4_GCM: {
        "profile_enc": "030b6c65676163792d323032367104922f840d5aa560a416a14454d10fb97a93dead49e954"
        "99f90d69244eb0d4117790584234b0f9e3d5be8696336af810d5c10c4986fadc9186b05d558d11212e2fbb"
        "c9ec9d77bfb34261ebca2e3d26780307ccb904635cc1ce13711f15ece791d508c5249399aabaf051",
        "name_enc": "030b6c65676163792d32303236b7473150ef7ded1c1ad1a59205036f7915df18a7f4a49353"
        "72a177ca0b5a2e2169008382a9e6bdd0d948",
        "outcome_enc": "030b6c65676163792d32303236a85ea62d302bce4936d2e65547579e6eb47a05e08ff379"
        "6b3e8989a9b403bf9a62d98b3e6837d597315754f30bd779f6ff738c889a48bb10c1bf15c5961a35",
    },
}
LEGACY_PROFILE = {"basic": {"name": "pii:legacy-name"}, "financial": None, "risk_answers": None}


def _suite() -> CipherSuite:
    return CipherSuite(os.environ.get("CLIENT_CARE_CIPHER_SUITE") or "aes-256-gcm")


@pytest.fixture
def rotated() -> FieldCipher:
    """A ring with a newer primary key in front of the legacy rows' key."""
    return FieldCipher(KeyRing.parse(f"{new_key_entry('2027a')},{LEGACY_KEY}", _suite()))


def _record(client_id: str) -> ClientRecord:
    f = ClientFile.model_validate(
        {
            "client_id": client_id,
            "kind": "individual",
            "basic": {"name": f"Name of {client_id}", "phone": "13812345678"},
        }
    )
    return client_record(f, AT)


def _write_client(db: Engine, cipher: FieldCipher, client_id: str) -> None:
    row = client_row(f"client-{client_id}", 1, AT, _record(client_id), cipher)
    task = TaskRecord.model_validate(
        {
            "task_id": f"T-{client_id}",
            "kind": "callback",
            "due_at": AT,
            "status": "done",
            "outcome_text": {"new_needs": "wants to talk about the house"},
        }
    )
    with db.begin() as conn:
        conn.execute(clients.insert().values(row))
        conn.execute(
            service_tasks.insert().values(
                task_row(f"client-{client_id}", 1, AT, client_id, task, cipher)
            )
        )


def _copy(db: Engine, sql: str, **params: Any) -> None:
    with db.begin() as conn:
        assert conn.execute(text(sql), params).rowcount == 1


def test_a_name_copied_into_the_profile_column_does_not_open(
    db: Engine, rotated: FieldCipher
) -> None:
    _write_client(db, rotated, "C-1")
    assert gather(db, rotated, "C-1")["client"]["file"]["basic"]["name"] == "Name of C-1"
    _copy(db, "UPDATE clients SET profile_enc = name_enc WHERE client_id = 'C-1'")
    with pytest.raises(FieldCipherError, match="wrong context"):
        gather(db, rotated, "C-1")


def test_a_profile_moved_to_another_client_does_not_open(db: Engine, rotated: FieldCipher) -> None:
    _write_client(db, rotated, "C-1")
    _write_client(db, rotated, "C-2")
    _copy(
        db,
        "UPDATE clients SET profile_enc = (SELECT profile_enc FROM clients WHERE client_id = 'C-1')"
        " WHERE client_id = 'C-2'",
    )
    with pytest.raises(FieldCipherError, match="wrong context"):
        gather(db, rotated, "C-2")


def test_callback_notes_moved_to_another_task_do_not_open(db: Engine, rotated: FieldCipher) -> None:
    _write_client(db, rotated, "C-1")
    _write_client(db, rotated, "C-2")
    _copy(
        db,
        "UPDATE service_tasks SET outcome_enc = (SELECT outcome_enc FROM service_tasks"
        " WHERE task_id = 'T-C-1') WHERE task_id = 'T-C-2'",
    )
    with pytest.raises(FieldCipherError, match="wrong context"):
        gather(db, rotated, "C-2")


def _write_legacy(db: Engine, rotated: FieldCipher, client_id: str = "C-OLD") -> None:
    """The `C-OLD` row as an earlier release wrote it (blobs of then), its other columns now."""
    _write_client(db, rotated, client_id)
    blobs = {k: bytes.fromhex(v) for k, v in LEGACY[_suite()].items()}
    with db.begin() as conn:
        conn.execute(
            clients.update()
            .where(clients.c.client_id == client_id)
            .values(profile_enc=blobs["profile_enc"], name_enc=blobs["name_enc"])
        )
        conn.execute(service_tasks.delete().where(service_tasks.c.client_id == client_id))
        conn.execute(
            service_tasks.insert().values(
                task_id="T-OLD", workflow_id=f"client-{client_id}", seq=1, client_id=client_id,
                kind="callback", due_at=AT, status="done", outcome_enc=blobs["outcome_enc"],
                updated_at=AT,
            )
        )  # fmt: skip


def test_rows_sealed_before_columns_had_contexts_still_read(
    db: Engine, rotated: FieldCipher
) -> None:
    _write_legacy(db, rotated)
    copy = gather(db, rotated, "C-OLD")
    assert copy["client"]["file"] == LEGACY_PROFILE
    assert copy["service_tasks"][0]["notes"] == "notes before columns had contexts"
    with db.connect() as conn:
        name = conn.execute(select(clients.c.name_enc).where(clients.c.client_id == "C-OLD"))
        assert not rotated.is_current(name.scalar_one())


def test_a_new_format_value_relabelled_as_legacy_does_not_open(
    db: Engine, rotated: FieldCipher
) -> None:
    """The format is authenticated: turning a new value's version byte back to the old one (to
    be opened with the shared row context) fails."""
    _write_client(db, rotated, "C-1")
    _copy(
        db,
        "UPDATE clients SET profile_enc = set_byte(name_enc, 0, get_byte(name_enc, 0) - 2)"
        " WHERE client_id = 'C-1'",
    )
    with pytest.raises(FieldCipherError):
        gather(db, rotated, "C-1")


def test_a_format1_name_copied_into_the_profile_still_opens_until_resealed(
    db: Engine, rotated: FieldCipher
) -> None:
    """The limit of rows written before: their columns share the row context, so the swap the
    current format refuses opens (as the wrong shape). `reseal-projections` closes it."""
    _write_legacy(db, rotated)
    _copy(db, "UPDATE clients SET profile_enc = name_enc WHERE client_id = 'C-OLD'")
    assert gather(db, rotated, "C-OLD")["client"]["file"] == "Old Row Name"


async def _reseal(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = await auditor.run(["reseal-projections", "--json"])
    return code, json.loads(capsys.readouterr().out)


async def test_reseal_projections_moves_old_cells_to_the_primary_key_and_current_format(
    db: Engine,
    rotated: FieldCipher,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    legacy_only = FieldCipher(KeyRing.parse(LEGACY_KEY, _suite()))
    _write_legacy(db, rotated)  # format 1, old key
    _write_client(db, legacy_only, "C-ROT")  # current format, old key: a rotation
    _write_client(db, rotated, "C-NEW")  # already current
    with db.begin() as conn:
        conn.execute(
            clients.insert().values(
                client_id="C-GONE", workflow_id="client-C-GONE", seq=1, kind="individual",
                tier="gold", risk_profile="unassessed", status="closed", consents={},
                do_not_contact=True, updated_at=AT, erased_at=AT,
            )
        )  # fmt: skip
    before = {c: gather(db, rotated, c) for c in ("C-OLD", "C-ROT", "C-NEW")}
    ring = rotated.ring
    entries = ",".join(f"{kid}:{base64.b64encode(ring.key(kid)).decode()}" for kid in ring.keys)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CLIENT_CARE_KEYS", entries)
    monkeypatch.setenv("CLIENT_CARE_CIPHER_SUITE", _suite().value)
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "S-1024")

    code, report = await _reseal(capsys)
    assert code == 0 and report["ok"], report
    cols = report["columns"]
    assert cols["clients.name_enc"] == {"current": 1, "resealed": 2, "changed": 0, "unreadable": 0}
    assert cols["clients.profile_enc"]["resealed"] == 2
    assert cols["service_tasks.outcome_enc"] == {
        "current": 1, "resealed": 2, "changed": 0, "unreadable": 0,
    }  # fmt: skip
    with db.connect() as conn:
        blobs = [
            bytes(b)
            for row in conn.execute(select(clients.c.profile_enc, clients.c.name_enc))
            for b in row
            if b is not None
        ] + [bytes(b) for b in conn.execute(select(service_tasks.c.outcome_enc)).scalars()]
        gone = conn.execute(select(clients).where(clients.c.client_id == "C-GONE")).one()
    assert len(blobs) == 9 and all(rotated.is_current(b) for b in blobs)
    assert {rotated.key_id(b) for b in blobs} == {"2027a"}
    assert (gone.profile_enc, gone.name_enc) == (None, None), "an erased client stays empty"
    assert {c: gather(db, rotated, c) for c in before} == before

    # now bound to its cell: the swap of the row written before is refused too
    _copy(db, "UPDATE clients SET profile_enc = name_enc WHERE client_id = 'C-OLD'")
    with pytest.raises(FieldCipherError, match="wrong context"):
        gather(db, rotated, "C-OLD")
    # an old cell moved to another client's row does not open there: counted, left as it lies
    with db.begin() as conn:
        moved = bytes.fromhex(LEGACY[_suite()]["name_enc"])
        conn.execute(clients.update().where(clients.c.client_id == "C-NEW").values(name_enc=moved))
    code, report = await _reseal(capsys)
    assert code == 1 and not report["ok"]
    assert report["columns"]["clients.name_enc"] == {
        "current": 2, "resealed": 0, "changed": 0, "unreadable": 1,
    }  # fmt: skip
    assert report["columns"]["clients.profile_enc"]["resealed"] == 0, "nothing else to do"
    with db.connect() as conn:
        purposes = conn.execute(
            select(access_log.c.actor, access_log.c.purpose).where(
                access_log.c.purpose == "reseal-projections"
            )
        ).all()
    assert len(purposes) == 2 and all(a.startswith("S-1024|os:") for a, _ in purposes)


def test_a_complaints_content_copied_into_its_complainant_does_not_open(
    db: Engine, rotated: FieldCipher
) -> None:
    """The complaint columns were bound to their cell from the start; kept so."""
    _write_client(db, rotated, "C-1")
    with db.begin() as conn:
        conn.execute(
            complaints.insert().values(
                complaint_id="CP-1", workflow_id="complaint-CP-1", seq=1, client_id="C-1",
                channel="email", stage="received", severity="low", received_at=AT, updated_at=AT,
                content_enc=rotated.seal(
                    "the text", context=column_context("complaints", "content_enc", "CP-1")
                ),
                complainant_enc=rotated.seal(
                    {"name": "x"}, context=column_context("complaints", "complainant_enc", "CP-1")
                ),
            )
        )  # fmt: skip
    assert gather(db, rotated, "C-1")["complaints"][0]["content"] == "the text"
    _copy(db, "UPDATE complaints SET complainant_enc = content_enc WHERE complaint_id = 'CP-1'")
    with pytest.raises(FieldCipherError, match="wrong context"):
        gather(db, rotated, "C-1")
