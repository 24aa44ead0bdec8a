"""The projection writer, not its callers, keeps an erased client's personal columns empty."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from projections.registry import Write, apply_writes
from projections.tables import PERSONAL_COLUMNS, clients, complaint_events, complaints, metadata

# Hashes of the access log's chain, not blind indexes of anyone's data.
NOT_PERSONAL = {"access_log.prev_hash", "access_log.row_hash"}


def test_every_sealed_or_hashed_column_is_named_personal() -> None:
    for table in metadata.sorted_tables:
        for column in table.columns:
            if f"{table.name}.{column.name}" in NOT_PERSONAL:
                continue
            if column.name.endswith(("_enc", "_hash")):
                assert column.name in PERSONAL_COLUMNS.get(table.name, ()), (
                    f"{table.name}.{column.name}: add it to tables.PERSONAL_COLUMNS"
                )


def _client(client_id: str, erased_at: datetime | None) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "client_id": client_id,
        "workflow_id": f"client-{client_id}",
        "seq": 1,
        "kind": "individual",
        "tier": "regular",
        "risk_profile": "unassessed",
        "status": "active",
        "name_enc": b"sealed",
        "updated_at": now,
        "erased_at": erased_at,
    }


def _complaint(cid: str, client_id: str, seq: int) -> list[Write]:
    now = datetime.now(UTC)
    row = {
        "complaint_id": cid,
        "workflow_id": f"complaint-{cid}",
        "seq": seq,
        "client_id": client_id,
        "channel": "hotline",
        "stage": "assessment",
        "received_at": now,
        "content_enc": b"sealed content",
        "complainant_enc": b"sealed person",
        "updated_at": now,
    }
    event = {
        "workflow_id": f"complaint-{cid}",
        "seq": seq,
        "complaint_id": cid,
        "kind": "received",
        "stage_to": "assessment",
        "at": now,
        "data": {},
        "detail_enc": b"sealed detail",
    }
    return [
        Write(complaints, [row], ("complaint_id",)),
        Write(complaint_events, [event], ("workflow_id", "seq"), mode="once"),
    ]


def test_an_erased_clients_rows_are_written_without_personal_data(db: Engine) -> None:
    erased_at = datetime(2026, 11, 30, tzinfo=UTC)
    with db.begin() as conn:
        apply_writes(conn, [Write(clients, [_client("c-w-erased", erased_at)], ("client_id",))])
        apply_writes(conn, [Write(clients, [_client("c-w-kept", None)], ("client_id",))])
        apply_writes(conn, _complaint("k-w-1", "c-w-erased", 1))
        apply_writes(conn, _complaint("k-w-2", "c-w-kept", 1))
        # A later event re-sends the intake; the erasure's date is not undone by a row without it.
        apply_writes(conn, _complaint("k-w-1", "c-w-erased", 2))
        apply_writes(
            conn, [Write(clients, [_client("c-w-erased", None) | {"seq": 2}], ("client_id",))]
        )
    with db.connect() as conn:
        rows = {
            r.complaint_id: r
            for r in conn.execute(select(complaints).where(complaints.c.complaint_id.like("k-w-%")))
        }
        details = dict(
            conn.execute(
                select(complaint_events.c.complaint_id, complaint_events.c.detail_enc).where(
                    complaint_events.c.complaint_id.like("k-w-%"), complaint_events.c.seq == 1
                )
            ).all()
        )
        people = {
            r.client_id: r
            for r in conn.execute(select(clients).where(clients.c.client_id.like("c-w-%")))
        }
    assert (rows["k-w-1"].content_enc, rows["k-w-1"].complainant_enc) == (None, None)
    assert rows["k-w-1"].seq == 2, "the rest of the row is written as usual"
    assert bytes(rows["k-w-2"].content_enc) == b"sealed content"
    assert details == {"k-w-1": None, "k-w-2": b"sealed detail"}
    assert people["c-w-erased"].name_enc is None
    assert people["c-w-erased"].erased_at == erased_at and people["c-w-erased"].do_not_contact
    assert bytes(people["c-w-kept"].name_enc) == b"sealed"


def test_an_erasure_waits_for_a_projection_in_flight_and_then_empties_it(db: Engine) -> None:
    """The writer's lock orders it against the erasure: an erasure that starts while a write
    is in its transaction waits, then empties what that write committed."""
    import threading

    from activities.privacy import EraseRequest, erase_personal_data

    with db.begin() as conn:
        apply_writes(conn, [Write(clients, [_client("c-w-race", None)], ("client_id",))])
    done = threading.Event()
    writing = db.connect()
    tx = writing.begin()
    apply_writes(writing, _complaint("k-w-race", "c-w-race", 1))  # holds the client row's lock

    def erase() -> None:
        request = EraseRequest(client_id="c-w-race", requested_by="dpo-1", reason="REQ-race")
        erase_personal_data(db, request)
        done.set()

    eraser = threading.Thread(target=erase)
    eraser.start()
    try:
        assert not done.wait(0.5), "the erasure did not wait for the write in flight"
        tx.commit()
        assert done.wait(10)
    finally:
        writing.close()
        eraser.join(10)
    with db.connect() as conn:
        row = conn.execute(select(complaints).where(complaints.c.complaint_id == "k-w-race")).one()
    assert (row.content_enc, row.complainant_enc) == (None, None)
