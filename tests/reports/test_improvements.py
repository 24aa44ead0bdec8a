"""Improvement measures: recorded once, completed once, listed with what is overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from commands.base import CommandContext, CommandError
from commands.improvements import COMMANDS, MeasureFilter, NewMeasure, add_measure, list_measures
from domain.policy import Policy
from projections.tables import improvement_measures


@dataclass(frozen=True)
class EngineContext(CommandContext):
    engine: Engine | None = None


def ctx(engine: Engine) -> EngineContext:
    return EngineContext(client=None, policy=Policy(), engine=engine)  # type: ignore[arg-type]


FEE_TABLE = {
    "cause": "pricing",
    "category": "fees",
    "measure": "publish the fee table on the client portal",
    "owner": "ops-lead",
    "due": "2026-04-30",
}


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(improvement_measures)).scalar_one()


async def test_adding_the_same_measure_twice_records_it_once(db: Engine) -> None:
    first = await COMMANDS["add"](ctx(db), None, FEE_TABLE)
    again = await COMMANDS["add"](ctx(db), None, {**FEE_TABLE, "owner": " ops-lead "})
    assert first["measure_id"] == again["measure_id"] and first["measure_id"].startswith("im-")
    assert (first["status"], first["due"], first["done_at"]) == ("open", "2026-04-30", None)
    assert count(db) == 1
    other = await COMMANDS["add"](ctx(db), None, {**FEE_TABLE, "measure": "train the hotline"})
    assert other["measure_id"] != first["measure_id"] and count(db) == 2


async def test_an_id_cannot_be_reused_for_a_different_measure(db: Engine) -> None:
    await COMMANDS["add"](ctx(db), None, {**FEE_TABLE, "measure_id": "m-7"})
    with pytest.raises(CommandError, match="m-7 already records a different measure"):
        await COMMANDS["add"](ctx(db), None, {**FEE_TABLE, "measure_id": "m-7", "owner": "hr"})


async def test_done_marks_it_once_and_unknown_ids_are_refused(db: Engine) -> None:
    added = await COMMANDS["add"](ctx(db), None, FEE_TABLE)
    done = await COMMANDS["done"](ctx(db), added["measure_id"], {})
    again = await COMMANDS["done"](ctx(db), added["measure_id"], {})
    assert done["status"] == "done" and done["done_at"] is not None
    assert again["done_at"] == done["done_at"]  # the first completion time stands
    with pytest.raises(CommandError, match="no improvement measure nope") as info:
        await COMMANDS["done"](ctx(db), "nope", {})
    assert info.value.code == "not_found"


async def test_bad_input_names_the_field(db: Engine) -> None:
    with pytest.raises(CommandError, match="due"):
        await COMMANDS["add"](ctx(db), None, {**FEE_TABLE, "due": "next spring"})
    with pytest.raises(CommandError, match="owner"):
        await COMMANDS["add"](ctx(db), None, {k: v for k, v in FEE_TABLE.items() if k != "owner"})
    with pytest.raises(CommandError, match="status"):
        await COMMANDS["list"](ctx(db), None, {"status": "late"})


def test_list_filters_by_status_and_flags_overdue(db: Engine) -> None:
    now = datetime(2026, 5, 3, tzinfo=UTC)
    for measure, due in (("a", date(2026, 4, 30)), ("b", date(2026, 5, 31))):
        add_measure(
            db, NewMeasure.model_validate({**FEE_TABLE, "measure": measure, "due": due}), now
        )
    everything = list_measures(db, MeasureFilter(), today=date(2026, 5, 3))
    assert [(m["measure"], m["overdue"]) for m in everything] == [("a", True), ("b", False)]
    overdue = list_measures(db, MeasureFilter(status="overdue"), today=date(2026, 5, 3))
    assert [m["measure"] for m in overdue] == ["a"]
    assert list_measures(db, MeasureFilter(status="done"), today=date(2026, 5, 3)) == []
    assert list_measures(db, MeasureFilter(cause="training"), today=date(2026, 5, 3)) == []
