"""Improvement measures (整改措施, DOMAIN §6): what the firm changes after analysing complaints,
followed until done.

    improvement add  {"cause", "measure", "owner", "due", optional "category", "measure_id"}
    improvement done MEASURE_ID
    improvement list {optional "status": "open|done|overdue", "cause"}

These are staff records, not client data: plain columns, no workflow. `add` without a
`measure_id` derives one from the content, so a retried request never records a measure twice.
None of the three needs Temporal.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, RowMapping, select
from sqlalchemy.dialects.postgresql import insert

from commands.base import Command, CommandContext, CommandError, engine_for
from domain.identifiers import Key, Ref, key
from domain.refusals import field_problems
from domain.text import FreeText, Line
from projections.tables import improvement_measures as measures

_FIELDS = ("cause", "category", "measure", "owner", "due")
M = TypeVar("M", bound=BaseModel)


class NewMeasure(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    cause: Annotated[str, FreeText(min_length=1, max_length=64)] = Field(
        description="root cause it addresses"
    )
    category: Annotated[str, FreeText(max_length=32)] | None = None
    measure: Annotated[str, FreeText(min_length=1, max_length=2000, multiline=True)]
    owner: Ref = Field(description="the staff member or department that carries it out")
    due: date
    measure_id: Key | None = None

    def derived_id(self) -> str:
        content = "\x1f".join(str(getattr(self, f) or "") for f in _FIELDS)
        return "im-" + hashlib.sha256(content.encode()).hexdigest()[:16]


class MeasureFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "done", "overdue"] | None = None
    cause: Line | None = None


def _json(row: RowMapping, today: date) -> dict[str, Any]:
    out = {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
    out["overdue"] = row["status"] == "open" and row["due"] < today
    return out


def _get(engine: Engine, measure_id: str) -> RowMapping | None:
    with engine.connect() as conn:
        return (
            conn.execute(select(measures).where(measures.c.measure_id == measure_id))
            .mappings()
            .first()
        )


def add_measure(
    engine: Engine, new: NewMeasure, now: datetime, today: date | None = None
) -> dict[str, Any]:
    measure_id = new.measure_id or new.derived_id()
    with engine.begin() as conn:
        conn.execute(
            insert(measures)
            .values(
                measure_id=measure_id,
                **new.model_dump(include=set(_FIELDS)),
                status="open",
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["measure_id"])
        )
    row = _get(engine, measure_id)
    assert row is not None  # just inserted, or there already
    if any(row[f] != getattr(new, f) for f in _FIELDS):
        raise CommandError(
            f"measure_id {measure_id} already records a different measure", "conflict"
        )
    return _json(row, today or now.date())


def complete_measure(
    engine: Engine, measure_id: str, now: datetime, today: date | None = None
) -> dict[str, Any]:
    """Marks it done; doing so again keeps the first completion time."""
    with engine.begin() as conn:
        conn.execute(
            measures.update()
            .where(measures.c.measure_id == measure_id, measures.c.status == "open")
            .values(status="done", done_at=now)
        )
    row = _get(engine, measure_id)
    if row is None:
        raise CommandError(f"no improvement measure {measure_id}", "not_found")
    return _json(row, today or now.date())


def list_measures(engine: Engine, flt: MeasureFilter, today: date) -> list[dict[str, Any]]:
    query = select(measures).order_by(measures.c.due, measures.c.measure_id)
    if flt.cause:
        query = query.where(measures.c.cause == flt.cause)
    if flt.status == "overdue":
        query = query.where(measures.c.status == "open", measures.c.due < today)
    elif flt.status:
        query = query.where(measures.c.status == flt.status)
    with engine.connect() as conn:
        return [_json(r, today) for r in conn.execute(query).mappings()]


def _parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = field_problems(exc)
        raise CommandError(f"invalid improvement measure: {problems}", "invalid") from exc


def _today(ctx: CommandContext) -> tuple[datetime, date]:
    now = datetime.now(UTC)
    return now, now.astimezone(ctx.policy.zone()).date()


async def add(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    new = _parse(NewMeasure, body)
    now, today = _today(ctx)
    return await asyncio.to_thread(add_measure, engine_for(ctx), new, now, today)


async def done(ctx: CommandContext, measure_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    measure_id = measure_id or body.get("measure_id")
    if not measure_id:
        raise CommandError("improvement done needs the MEASURE_ID", "usage")
    if not isinstance(measure_id, str):
        raise CommandError("improvement done: MEASURE_ID must be a string", "invalid")
    try:
        key(measure_id)
    except ValueError as err:
        raise CommandError(f"improvement done: MEASURE_ID {err}", "invalid") from None
    now, today = _today(ctx)
    return await asyncio.to_thread(complete_measure, engine_for(ctx), measure_id, now, today)


async def list_(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    flt = _parse(MeasureFilter, body)
    _, today = _today(ctx)
    return {"measures": await asyncio.to_thread(list_measures, engine_for(ctx), flt, today)}


COMMANDS: dict[str, Command] = {"add": add, "done": done, "list": list_}
