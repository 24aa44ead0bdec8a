"""Projection writes per second: the project's writer against raw psycopg.

The rows are the complaint projection's own: `activities.complaints.complaint_rows` (a
`complaints` state row and a `complaint_events` fact row per event, personal fields sealed),
computed once up front so every side writes exactly the same rows. Sides:

- writer: `projections.registry.apply_writes` (`upsert_newer` / `insert_once`), a batch per
  transaction;
- raw: psycopg `executemany` of the same rows with the same ON CONFLICT target and guard, a
  batch per transaction (the floor: nothing between Python and PostgreSQL);
- one commit per row: raw psycopg, each row its own transaction;
- (shown, not judged) the writer as the live activity calls it: one event's rows per transaction.

Targets: writer >= 0.5 x raw, and >= 10 x one commit per row. Rows go to a scratch schema
`bench_writer`, dropped at the end, so an existing database is left as it was.

    .venv/bin/python bench/projection_writer.py [--events 10000] [--batch 500] [--per-row 2000]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, Table, text

from activities.complaints import ComplaintProjection, complaint_rows
from audit.rebuild import prepare_schema
from bench.common import Rate, Verdict, machine, parser, say, side_by_side
from bench.localstack import local_stack
from domain.complaint import ComplaintEvent, ComplaintIntake
from domain.complaint_state import receive
from domain.policy import Policy
from infra.database import make_engine
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.registry import Write, apply_writes
from projections.tables import complaint_events, complaints

SCHEMA = "bench_writer"
TARGET_VS_RAW = 0.5
TARGET_VS_PER_ROW = 10.0
Rows = list[tuple[dict[str, Any], dict[str, Any]]]


def projection_rows(n: int, keyring: KeyRing) -> Rows:
    """(complaint row, event row) of `n` received complaints, as the worker would write them."""
    cipher, policy = FieldCipher(keyring), Policy()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    out: Rows = []
    for i in range(n):
        cid = f"bw-{i:07d}-{uuid.uuid4().hex[:6]}"
        intake = ComplaintIntake.model_validate(
            {
                "client_id": f"c-{i % 997}",
                "channel": "email",
                "content": "The fund's fees were higher than I was told at purchase.",
                "complainant": {"name": "Li Lei", "email": "li.lei@example.com"},
            }
        )
        at = start + timedelta(seconds=i)
        change = receive(cid, intake, at, policy)
        event = ComplaintEvent(
            seq=1,
            kind=change.kind,
            at=at,
            stage_from=None,
            stage_to=change.complaint.stage,
            data=change.data,
        )
        p = ComplaintProjection(
            workflow_id=f"complaint-{cid}",
            seq=1,
            complaint=change.complaint,
            intake=intake,
            event=event,
        )
        state, fact = complaint_rows(p, cipher)
        out.append((state.rows[0], fact.rows[0]))
    return out


def batches(rows: Rows, size: int) -> list[Rows]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def writer_batched(scoped: Engine, rows: Rows, size: int) -> int:
    for batch in batches(rows, size):
        with scoped.begin() as conn:
            apply_writes(
                conn,
                [
                    Write(complaints, [s for s, _ in batch], ("complaint_id",)),
                    Write(complaint_events, [f for _, f in batch], ("workflow_id", "seq"), "once"),
                ],
            )
    return 2 * len(rows)


def writer_per_event(scoped: Engine, rows: Rows) -> int:
    for state, fact in rows:
        with scoped.begin() as conn:
            apply_writes(
                conn,
                [
                    Write(complaints, [state], ("complaint_id",)),
                    Write(complaint_events, [fact], ("workflow_id", "seq"), "once"),
                ],
            )
    return 2 * len(rows)


def upsert_sql(table: Table, columns: Sequence[str], key: Sequence[str], newer: bool) -> str:
    cols = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    target = ", ".join(key)
    if not newer:
        return (
            f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT ({target}) DO NOTHING"
        )
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT ({target}) "
        f"DO UPDATE SET {sets} WHERE {table.name}.seq < EXCLUDED.seq"
    )


class Raw:
    """The same statements the writer issues, written by hand for psycopg."""

    def __init__(self, rows: Rows) -> None:
        state, fact = rows[0]
        self.state_cols, self.fact_cols = list(state), list(fact)
        self.state_sql = upsert_sql(complaints, self.state_cols, ["complaint_id"], newer=True)
        self.fact_sql = upsert_sql(complaint_events, self.fact_cols, ["workflow_id", "seq"], False)

    @staticmethod
    def values(row: dict[str, Any], cols: list[str]) -> tuple[Any, ...]:
        return tuple(Jsonb(row[c]) if isinstance(row[c], dict | list) else row[c] for c in cols)

    def batched(self, conn: psycopg.Connection[Any], rows: Rows, size: int) -> int:
        for batch in batches(rows, size):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(self.state_sql, [self.values(s, self.state_cols) for s, _ in batch])
                cur.executemany(self.fact_sql, [self.values(f, self.fact_cols) for _, f in batch])
        return 2 * len(rows)

    def per_row(self, conn: psycopg.Connection[Any], rows: Rows) -> int:
        for state, fact in rows:
            for sql, row, cols in (
                (self.state_sql, state, self.state_cols),
                (self.fact_sql, fact, self.fact_cols),
            ):
                with conn.transaction():
                    conn.execute(sql, self.values(row, cols))
        return 2 * len(rows)


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {SCHEMA}.complaint_events, {SCHEMA}.complaints"))


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--events", type=int, default=10_000, help="complaint events per batched round")
    p.add_argument("--batch", type=int, default=500, help="events per transaction when batched")
    p.add_argument("--per-row", type=int, default=2_000, help="events per one-commit-per-row round")
    args = p.parse_args()
    async with local_stack(args.workdir / "writer") as ep:
        url = ep.database_url
        engine = make_engine(url)
        scoped = prepare_schema(engine, SCHEMA)
        say(f"computing the rows of {args.events:,} complaint events (sealing personal fields)")
        rows = projection_rows(args.events, ep.keyring)
        few = rows[: args.per_row]
        raw = Raw(rows)
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, options=f"-c search_path={SCHEMA}") as conn:

            def run(work: Any) -> Any:
                async def go() -> int:
                    empty(engine)
                    return await asyncio.to_thread(work)

                return go

            writer = Rate("writer: apply_writes, batched", "rows")
            rawb = Rate("raw psycopg executemany, batched", "rows")
            per_row = Rate("raw psycopg, one commit per row", "rows")
            activity = Rate("writer, one event per transaction (as the activity)", "rows")
            await side_by_side(
                [
                    (writer, run(lambda: writer_batched(scoped, rows, args.batch))),
                    (rawb, run(lambda: raw.batched(conn, rows, args.batch))),
                    (per_row, run(lambda: raw.per_row(conn, few))),
                    (activity, run(lambda: writer_per_event(scoped, few))),
                ],
                args.rounds,
            )
        with engine.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        engine.dispose()
    verdict = Verdict()
    verdict.ratio("writer / raw executemany", writer, rawb, TARGET_VS_RAW)
    verdict.ratio("writer / one commit per row", writer, per_row, TARGET_VS_PER_ROW)
    facts = {
        **machine(),
        "events (2 rows each)": f"{args.events:,} batched, {len(few):,} per row",
        "batch": args.batch,
        "rates": "\n" + "\n".join(r.line() for r in (writer, rawb, per_row, activity)),
    }
    return verdict.report("projection writer", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
