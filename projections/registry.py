"""Projection activities declare how their input becomes rows, so rows can be rebuilt from history.

A projection activity takes one pydantic model that carries everything it writes (a snapshot with
the workflow id and event `seq`). Its row function is pure: given the same input it yields the
same writes. The activity applies them live; `auditor.py rebuild-projections` decodes the same
inputs from `ActivityTaskScheduled` events and applies them again, through the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, Table

from projections.crypto import FieldCipher
from projections.erasure import hold_erasures
from projections.writer import insert_once, upsert_newer


@dataclass(frozen=True)
class Write:
    table: Table
    rows: Sequence[dict[str, Any]]
    key: tuple[str, ...]
    mode: Literal["newer", "once"] = "newer"


RowsFn = Callable[[Any, FieldCipher], list[Write]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Projector:
    activity: str
    model: type[BaseModel]
    rows: RowsFn = field(compare=False)


PROJECTORS: dict[str, Projector] = {}


def projector(activity: str, model: type[M]) -> Callable[[RowsFn], RowsFn]:
    """Registers `fn(input, cipher) -> [Write]` as the rows of the activity named `activity`."""

    def register(fn: RowsFn) -> RowsFn:
        PROJECTORS[activity] = Projector(activity, model, fn)
        return fn

    return register


def apply_writes(conn: Connection, writes: Sequence[Write]) -> int:
    """Every projection row, live or rebuilt, is written here: an erased client's personal
    columns are emptied on the way (projections.erasure), whatever the row function produced."""
    written = 0
    for w in hold_erasures(conn, writes):
        if w.mode == "newer":
            written += upsert_newer(conn, w.table, w.rows, w.key)
        else:
            written += insert_once(conn, w.table, w.rows, w.key)
    return written
