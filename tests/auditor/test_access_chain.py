"""The access log is a hash chain: `auditor.py verify-access-log` passes an untouched log and
names the first row that was changed, removed or forged, whoever wrote the rows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select, text

import auditor
from projections.access import AccessAction, record_access
from projections.tables import access_log


def _log(db: Engine, n: int) -> list[int]:
    with db.begin() as conn:
        for i in range(n):
            record_access(
                conn, "auditor-1", AccessAction.HISTORY_DECRYPT, f"c-{i}", f"client-c-{i}", "audit"
            )
    with db.connect() as conn:
        return list(
            conn.execute(select(access_log.c.id).order_by(access_log.c.chain_seq)).scalars()
        )


async def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = await auditor.run(["verify-access-log", "--json"])
    return code, json.loads(capsys.readouterr().out)


async def test_an_untouched_log_verifies(
    db: Engine, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = await _verify(capsys)
    assert (code, report["rows"]) == (0, 0), "an empty log is a whole chain"
    _log(db, 5)
    code, report = await _verify(capsys)
    assert (code, report["rows"], report["broken"]) == (0, 5, None)
    with db.connect() as conn:
        first = conn.execute(select(access_log).order_by(access_log.c.chain_seq)).first()
    assert first is not None and first.prev_hash == "0" * 64 and len(first.row_hash) == 64


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        ("UPDATE access_log SET purpose = 'nothing to see' WHERE id = :id", 2),
        ("UPDATE access_log SET client_id = 'c-other' WHERE id = :id", 2),
        ("DELETE FROM access_log WHERE id = :id", 3),
    ],
)
async def test_the_first_broken_row_is_named(
    db: Engine,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
    broken_at: int,
) -> None:
    ids = _log(db, 5)
    with db.begin() as conn:  # the owner's role: the application's may not change a row at all
        conn.execute(text(tamper), {"id": ids[2]})
    code, report = await _verify(capsys)
    broken = report["broken"]
    assert code == 1 and isinstance(broken, dict)
    assert broken["id"] == ids[broken_at]
    assert await auditor.run(["verify-access-log"]) == 1
    assert f"id={ids[broken_at]}" in capsys.readouterr().out


async def test_a_row_whose_hash_was_recomputed_breaks_the_next_one(
    db: Engine, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from audit.access_chain import row_hash

    ids = _log(db, 4)
    with db.begin() as conn:
        conn.execute(
            text("UPDATE access_log SET purpose = 'forged' WHERE id = :id"), {"id": ids[1]}
        )
        row = conn.execute(select(access_log).where(access_log.c.id == ids[1])).one()
        conn.execute(
            text("UPDATE access_log SET row_hash = :h WHERE id = :id"),
            {"h": row_hash(row.prev_hash, row), "id": ids[1]},
        )
    code, report = await _verify(capsys)
    assert code == 1 and report["broken"]["id"] == ids[2]  # type: ignore[index]
