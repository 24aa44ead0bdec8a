"""Re-seals the read models' sealed cells in place: under the ring's primary key and suite, in the
current format, each cell bound to its own table, column and row (`projections.crypto`).

`auditor.py reseal-projections` is the path for a key rotation or a suite switch and for rows
written before each column had a context of its own (format 1, bound to the row only), without
the histories: `rebuild-projections --into-live` would also re-seal, but drops the rows whose
histories the namespace no longer retains. Only the ring's layer is opened; the tokens sealed
under a client's own key inside stay sealed, and nothing is shown to anyone.

A cell is replaced only while it still holds the value read (compare-and-set), so a projection
write or an erasure in between wins and an erased client's empty cells stay empty. A cell that
does not open where it lies (moved from another row, or altered) is counted and left as it is.
Run `verify-projections` first: a format 1 value moved to another column of its own row opens
under the shared row context and would be bound where it lies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, select, tuple_, update

from projections.crypto import FieldCipher, FieldCipherError, column_context
from projections.tables import PERSONAL_COLUMNS, metadata

_BATCH = 500


def sealed_columns() -> Iterator[tuple[Table, str]]:
    for name, columns in PERSONAL_COLUMNS.items():
        for column in columns:
            if column.endswith("_enc"):
                yield metadata.tables[name], column


@dataclass
class ColumnCount:
    current: int = 0
    resealed: int = 0
    changed: int = 0
    """Rewritten (by a projection, an erasure) between the read and the re-seal: left to it."""
    unreadable: int = 0


@dataclass
class ResealReport:
    columns: dict[str, ColumnCount] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(c.unreadable for c in self.columns.values())

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "columns": {k: vars(v) for k, v in self.columns.items()}}

    def as_text(self) -> str:
        lines = [
            f"{name}: {c.resealed} re-sealed, {c.current} already current"
            + (f", {c.changed} rewritten meanwhile" if c.changed else "")
            + (f", {c.unreadable} do not open where they lie" if c.unreadable else "")
            for name, c in self.columns.items()
        ]
        lines.append("all sealed cells current" if self.ok else "some cells could not be opened")
        return "\n".join(lines)


def reseal(engine: Engine, cipher: FieldCipher, *, batch: int = _BATCH) -> ResealReport:
    report = ResealReport()
    for table, column in sealed_columns():
        count = report.columns.setdefault(f"{table.name}.{column}", ColumnCount())
        key = list(table.primary_key.columns)
        cell = table.c[column]
        after: tuple[Any, ...] | None = None
        while True:
            query = select(*key, cell).where(cell.is_not(None)).order_by(*key).limit(batch)
            if after is not None:
                query = query.where(tuple_(*key) > tuple_(*after))
            with engine.begin() as conn:
                rows = conn.execute(query).all()
                for row in rows:
                    row_key, blob = tuple(row[: len(key)]), bytes(row[len(key)])
                    if cipher.is_current(blob):
                        count.current += 1
                        continue
                    try:
                        new = cipher.reseal(
                            blob, context=column_context(table.name, column, *row_key)
                        )
                    except FieldCipherError:
                        count.unreadable += 1
                        continue
                    done = conn.execute(
                        update(table)
                        .where(*(k == v for k, v in zip(key, row_key, strict=True)))
                        .where(cell == blob)
                        .values({column: new})
                    )
                    if done.rowcount:
                        count.resealed += 1
                    else:
                        count.changed += 1
            if len(rows) < batch:
                break
            after = tuple(rows[-1][: len(key)])
    return report
