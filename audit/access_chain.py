"""`auditor.py verify-access-log`: recomputes the access log's hash chain (migration 0005).

Each row's `row_hash` is SHA-256 over the previous row's hash and the row's content in one
canonical form (below, the same as the trigger's). A row changed after the fact no longer
matches its hash; a row removed from the middle breaks the next row's `prev_hash` and leaves a
gap in `chain_seq`; a row inserted by hand with made-up hashes does not match either. What a
chain kept in the same database cannot show: the newest rows cut off the end, or the whole
chain rewritten by someone holding the owner's role. Publishing the newest `row_hash`
elsewhere from time to time (a ticket, a second store) closes that; not done here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from projections.tables import access_log

GENESIS = "0" * 64


def _field(value: str | None) -> str:
    return "-" if value is None else f"{len(value)}:{value}"


def row_hash(prev_hash: str, row: Any) -> str:
    at: datetime = row.at
    content = "|".join(
        [
            str(row.chain_seq),
            str(row.id),
            _field(row.actor),
            _field(at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")),
            _field(row.action),
            _field(row.client_id),
            _field(row.workflow_id),
            _field(row.purpose),
        ]
    )
    return hashlib.sha256(f"{prev_hash}|{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Broken:
    id: int | None
    chain_seq: int | None
    why: str

    def as_text(self) -> str:
        return f"access_log row id={self.id} (chain_seq {self.chain_seq}): {self.why}"


@dataclass(frozen=True)
class ChainReport:
    rows: int
    broken: Broken | None
    head: str

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "head": self.head,
            "broken": None if self.broken is None else self.broken.__dict__,
        }

    def as_text(self) -> str:
        if self.broken is not None:
            return f"{self.broken.as_text()}\nthe access log's chain is broken"
        return f"{self.rows} access_log row(s), chain intact; newest row_hash {self.head}"


def _rows(engine: Engine) -> Iterator[Any]:
    query = select(access_log).order_by(access_log.c.chain_seq.nulls_last(), access_log.c.id)
    with engine.connect() as conn:
        yield from conn.execution_options(yield_per=1000).execute(query)


def verify_chain(engine: Engine) -> ChainReport:
    """Walks the chain oldest first and stops at the first row that does not hold."""
    prev, n = GENESIS, 0
    for row in _rows(engine):
        n += 1
        if row.chain_seq is None or row.row_hash is None:
            return ChainReport(n, Broken(row.id, None, "not in the chain (no hash)"), prev)
        if row.chain_seq != n:
            why = f"chain_seq {row.chain_seq} where {n} was due: a row before it is missing"
            return ChainReport(n, Broken(row.id, row.chain_seq, why), prev)
        if row.prev_hash != prev:
            why = "prev_hash is not the previous row's hash: a row before it was removed or changed"
            return ChainReport(n, Broken(row.id, row.chain_seq, why), prev)
        if row_hash(prev, row) != row.row_hash:
            why = "its content does not match its hash: the row was changed"
            return ChainReport(n, Broken(row.id, row.chain_seq, why), prev)
        prev = row.row_hash
    return ChainReport(n, None, prev)
