"""Rebuilds the read models from the histories alone.

For every run the visibility query lists (continued-as-new runs included), the inputs of its
projection activities are decoded from their `ActivityTaskScheduled` events and handed to the
same row functions the live activities use, through `apply_writes`. Its `upsert_newer` /
`insert_once` make the order of runs and any repeats harmless.

An activity counts unless its history says it never succeeded (it failed, timed out or was
cancelled): one still in flight is counted, because it retries until its write lands. (A last
attempt that timed out may still have committed; verify then shows its row as extra.)

Only histories the namespace still retains can be replayed: rows of workflows closed longer
ago than the retention period (or archived) cannot be rebuilt, and verify lists them as extra.

PIPL erasures act on the read models directly, outside any history (commands/privacy.py), so
the histories alone would bring erased personal data back: every erasure on record in the live
access log is applied again to the rebuilt rows, through the same function, dated as recorded.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, MetaData, Table, func, insert, select, text
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from activities.privacy import EraseRequest, UnknownClientError, erase_personal_data
from audit import sources
from audit.projectors import load_projectors
from infra.keys import KeyRingError
from projections.access import AccessAction
from projections.crypto import FieldCipher
from projections.registry import Projector, Write, apply_writes
from projections.tables import access_log, clients, metadata

# The contract's per-workflow read models: always rebuilt and compared, so that an empty
# rebuild against a populated live table is reported rather than passed over.
CORE = ("clients", "complaints", "complaint_events", "service_tasks", "tier_changes")
# Never derived from histories, whatever writes them: the outbox records deliveries (consents
# and the sender's outcome at send time), the access log records people reading data.
NEVER = ("notifications", "access_log")

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_NO_SUCCESS = {
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
}


class RebuildError(Exception):
    pass


@dataclass
class RebuildStats:
    runs: int = 0
    projections: int = 0
    skipped: int = 0
    """Projection activities whose history records that they failed, timed out or were
    cancelled: their input was not applied."""
    tables: set[str] = field(default_factory=set)
    erasures: int = 0
    """PIPL erasures re-applied to the rebuilt rows."""

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "projections": self.projections,
            "skipped": self.skipped,
            "erasures": self.erasures,
            "tables": sorted(self.tables),
        }


def derived_tables(written: Iterable[str]) -> list[Table]:
    """The live tables a rebuild replaces and verify compares: the core read models and any
    other table a projector wrote, in dependency order."""
    names = (set(CORE) | set(written)) - set(NEVER)
    return [t for t in metadata.sorted_tables if t.name in names]


def scratch_table(table: Table, schema: str) -> Table:
    return table.to_metadata(MetaData(), schema=schema)


async def history_writes(
    history: WorkflowHistory,
    converter: DataConverter,
    cipher: FieldCipher,
    projectors: Mapping[str, Projector],
) -> tuple[list[Write], int, int]:
    """(writes, projections applied, projections skipped) for one run."""
    unsuccessful = set()
    for event in history.events:
        which = event.WhichOneof("attributes")
        if which in _NO_SUCCESS:
            unsuccessful.add(getattr(event, which).scheduled_event_id)
    writes: list[Write] = []
    applied = skipped = 0
    for event in history.events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        attrs = event.activity_task_scheduled_event_attributes
        found = projectors.get(attrs.activity_type.name)
        if found is None:
            continue
        if event.event_id in unsuccessful:
            skipped += 1
            continue
        try:
            [model] = await converter.decode(attrs.input.payloads, [found.model])
        except Exception as exc:
            raise RebuildError(
                f"{history.workflow_id} run {history.run_id} event {event.event_id}: the input "
                f"of {found.activity} does not decode as {found.model.__name__}: {_reason(exc)}"
            ) from None
        writes.extend(found.rows(model, cipher))
        applied += 1
    return writes, applied, skipped


def _reason(exc: Exception) -> str:
    """Why an input did not decode, without the input: pydantic's own text echoes the values,
    and these are personal data."""
    if isinstance(exc, KeyRingError):  # names key ids only
        return str(exc)
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
    return type(exc).__name__


def check_schema_name(engine: Engine, schema: str) -> None:
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise RebuildError(f"schema name {schema!r} must be a plain lower-case identifier")
    with engine.connect() as conn:
        live = conn.execute(text("SELECT current_schema()")).scalar_one()
        others = conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        ).scalars()
        foreign = sorted(set(others) - set(metadata.tables))
    if schema in (live, "public", "information_schema"):
        raise RebuildError(f"schema {schema!r} holds the live tables; rebuild into another one")
    if foreign:
        raise RebuildError(
            f"schema {schema!r} holds tables that are not read models ({', '.join(foreign)}); "
            "refusing to replace it"
        )


def prepare_schema(engine: Engine, schema: str) -> Engine:
    """An empty copy of every projection table in `schema` (replacing any earlier rebuild);
    returns the engine whose unqualified table names land there."""
    check_schema_name(engine, schema)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = engine.execution_options(schema_translate_map={None: schema})
    with scoped.begin() as conn:
        metadata.create_all(conn)
    return scoped


def erased_clients(engine: Engine) -> dict[str, datetime]:
    """Clients erased under PIPL, with when (the first erasure recorded in the access log)."""
    query = (
        select(access_log.c.client_id, func.min(access_log.c.at))
        .where(access_log.c.action == AccessAction.ERASE, access_log.c.client_id.is_not(None))
        .group_by(access_log.c.client_id)
    )
    with engine.connect() as conn:
        return {client_id: at for client_id, at in conn.execute(query).all()}


def reapply_erasures(scoped: Engine, erased: Mapping[str, datetime]) -> int:
    """Erases again, in the rebuilt rows, every client erased live; returns how many."""
    done = 0
    for client_id, at in erased.items():
        with scoped.begin() as conn:
            # The erasure keeps an erased_at already set: the original date, not today's.
            conn.execute(
                clients.update()
                .where(clients.c.client_id == client_id, clients.c.erased_at.is_(None))
                .values(erased_at=at)
            )
        request = EraseRequest(
            client_id=client_id, requested_by="auditor", reason="re-applied to a rebuild"
        )
        try:
            erase_personal_data(scoped, request)
        except UnknownClientError:
            continue  # no history left of this client: nothing was rebuilt to erase
        done += 1
    return done


def _apply(scoped: Engine, writes: list[Write]) -> None:
    with scoped.begin() as conn:
        apply_writes(conn, writes)


async def rebuild(
    source: sources.Histories,
    engine: Engine,
    cipher: FieldCipher,
    *,
    schema: str,
    on_run: Callable[[WorkflowHistory], None] | None = None,
    projectors: Mapping[str, Projector] | None = None,
) -> RebuildStats:
    """Rebuilds every read model into empty tables in `schema` from the source's runs."""
    projectors = projectors if projectors is not None else load_projectors()
    if cipher.subjects is None:
        # Row functions open subject-sealed values for the blind indexes: with the live keys
        # (a destroyed one gives what the live writer gave after the erasure, nothing).
        from projections.subject_keys import PgSubjectKeys, Sealer

        cipher.subjects = Sealer(PgSubjectKeys(engine, cipher.ring))
    scoped = prepare_schema(engine, schema)
    stats = RebuildStats()
    async for history in source.runs():
        writes, applied, skipped = await history_writes(
            history, source.converter, cipher, projectors
        )
        # The database calls are blocking; off the loop, the next histories keep downloading.
        await asyncio.to_thread(_apply, scoped, writes)
        stats.runs += 1
        stats.projections += applied
        stats.skipped += skipped
        stats.tables.update(w.table.name for w in writes)
        if on_run is not None:
            on_run(history)
    stats.erasures = reapply_erasures(scoped, erased_clients(engine))
    return stats


def replace_live(engine: Engine, schema: str, tables: list[Table]) -> dict[str, int]:
    """Swaps the rebuilt rows into the live tables in one transaction: readers see the old rows
    or the new, never an empty table, and a failed rebuild leaves the live tables untouched."""
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        preparer = conn.dialect.identifier_preparer
        names = ", ".join(preparer.format_table(t) for t in tables)
        conn.execute(text(f"TRUNCATE {names}"))
        for table in tables:
            source = scratch_table(table, schema)
            columns = [c.name for c in table.columns]
            result = conn.execute(
                insert(table).from_select(columns, select(*(source.c[c] for c in columns))),
                execution_options={"preserve_rowcount": True},  # else -1 once the cursor closes
            )
            counts[table.name] = result.rowcount
    return counts
