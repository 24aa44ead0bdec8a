"""Compares the live read models with a fresh rebuild from the histories, row by row.

Rows are matched on each table's primary key. Columns are compared as stored, except:
- `*_enc` columns hold AES-GCM ciphertext with random nonces, so the same value never seals to
  the same bytes: they are compared by decrypted value (never printed). A live value is opened
  with the context the row function sealed its rebuilt twin with, so a value moved into another
  row or column shows up as a difference too.
- columns named with `--ignore table.column`. By default none: projector row functions are pure
  functions of their input, so `updated_at` and the like come from the workflow's clock and
  must match exactly. The write-time bookkeeping columns (`notifications.created_at/sent_at`,
  `access_log.at`) live only in tables that are never derived from histories.
- rows of a client erased under PIPL: the rebuild erases them again (`rebuild.reapply_erasures`)
  but cannot know the erasure's own write times, so `updated_at` and `erased_at` of rows with
  that `client_id` are not compared. That the personal columns are empty is.

Tables compared: those `rebuild.derived_tables` names (the core read models plus any table a
projector wrote). Every other non-empty table is listed as not verifiable, with its row count:
the outbox and the access log by design, and tables no projector wrote (e.g. `kpi_snapshots`
or `improvement_measures` when their activities write them directly).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, String, Table, func, select, text
from temporalio.client import WorkflowHistory

from audit.rebuild import RebuildStats, derived_tables, erased_clients, rebuild, scratch_table
from audit.sources import Histories
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import metadata

_BATCH = 1000


class RecordingCipher(FieldCipher):
    """Remembers the context each value is sealed with, so the live value of the same cell can
    be opened the way its row function meant. (Memory grows with the sealed cells rebuilt: a
    few hundred bytes each.)"""

    def __init__(self, keyring: KeyRing) -> None:
        super().__init__(keyring)
        self.contexts: dict[bytes, str] = {}

    def seal(self, value: Any, *, context: str = "") -> bytes:
        blob = super().seal(value, context=context)
        self.contexts[blob] = context
        return blob


@dataclass(frozen=True)
class Difference:
    table: str
    key: dict[str, Any]
    kind: str
    """`missing` (the histories have the row, live does not), `extra` (live has a row the
    histories do not explain) or `changed`."""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_text(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind != "changed":
            where = "live" if self.kind == "missing" else "the histories"
            return f"{self.table} [{key}]: {self.kind} (not in {where})"
        cols = "; ".join(
            f"{c}: live={v['live']!r} rebuilt={v['rebuilt']!r}" for c, v in self.columns.items()
        )
        return f"{self.table} [{key}]: changed {cols}"


@dataclass
class VerifyReport:
    rebuild: RebuildStats
    compared: dict[str, int]
    unverified: dict[str, int]
    ignored: list[str]
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rebuild": self.rebuild.as_json(),
            "compared": self.compared,
            "unverified": self.unverified,
            "ignored": self.ignored,
            "differences": [asdict(d) for d in self.differences],
        }

    def as_text(self) -> str:
        lines = [d.as_text() for d in self.differences]
        lines.append("compared: " + ", ".join(f"{t} ({n} rows)" for t, n in self.compared.items()))
        if self.unverified:
            lines.append(
                "not derived from histories, not compared: "
                + ", ".join(f"{t} ({n} rows)" for t, n in self.unverified.items())
            )
        verdict = "match" if self.ok else f"{len(self.differences)} difference(s)"
        lines.append(f"{self.rebuild.runs} run(s) replayed into projections: {verdict}")
        return "\n".join(lines)


def _rows(engine: Engine, table: Table, key: list[str]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Rows in key order; text keys under the C collation, which orders like Python's `<`."""
    order = [
        table.c[k].collate("C") if isinstance(table.c[k].type, String) else table.c[k] for k in key
    ]
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(select(table).order_by(*order))
        for row in result:
            yield tuple(row._mapping[k] for k in key), row._mapping


class Cells:
    """Compares one column's values; sealed ones by what they decrypt to."""

    def __init__(self, cipher: RecordingCipher) -> None:
        self._cipher = cipher

    def differ(self, column: str, live: Any, rebuilt: Any) -> dict[str, Any] | None:
        if not column.endswith("_enc"):
            return None if live == rebuilt else {"live": live, "rebuilt": rebuilt}
        if live is None or rebuilt is None:
            if live is None and rebuilt is None:
                return None
            return {"live": _sealed(live), "rebuilt": _sealed(rebuilt)}
        context = self._cipher.contexts.get(bytes(rebuilt), "")
        expected = self._cipher.open(bytes(rebuilt), context=context)
        try:
            actual = self._cipher.open(bytes(live), context=context)
        except Exception:
            return {"live": "<sealed, does not open in this cell>", "rebuilt": "<sealed>"}
        if actual == expected:
            return None
        return {"live": "<sealed>", "rebuilt": "<sealed, a different value>"}


def _sealed(value: Any) -> str | None:
    return None if value is None else "<sealed>"


ERASURE_WRITE_TIMES = ("updated_at", "erased_at")


def compare_table(
    engine: Engine,
    table: Table,
    schema: str,
    cells: Cells,
    ignore: Collection[str],
    erased: Collection[str] = (),
) -> tuple[list[Difference], int]:
    """Merge-joins live and rebuilt rows on the primary key; returns differences, live rows."""
    key = [c.name for c in table.primary_key.columns]
    columns = [c.name for c in table.columns if f"{table.name}.{c.name}" not in ignore]
    by_client = "client_id" in table.c and bool(erased)
    live = _rows(engine, table, key)
    rebuilt = _rows(engine, scratch_table(table, schema), key)
    out: list[Difference] = []
    live_count = 0
    a, b = next(live, None), next(rebuilt, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            out.append(Difference(table.name, dict(zip(key, a[0], strict=True)), "extra"))
            live_count += 1
            a = next(live, None)
        elif a is None or b[0] < a[0]:
            out.append(Difference(table.name, dict(zip(key, b[0], strict=True)), "missing"))
            b = next(rebuilt, None)
        else:
            changed = {}
            skip = ERASURE_WRITE_TIMES if by_client and a[1]["client_id"] in erased else ()
            for column in columns:
                if column in skip:
                    continue
                diff = cells.differ(column, a[1][column], b[1][column])
                if diff is not None:
                    changed[column] = diff
            if changed:
                out.append(
                    Difference(table.name, dict(zip(key, a[0], strict=True)), "changed", changed)
                )
            live_count += 1
            a, b = next(live, None), next(rebuilt, None)
    return out, live_count


def _live_counts(engine: Engine, tables: list[Table]) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
        }


async def verify(
    source: Histories,
    engine: Engine,
    keyring: KeyRing,
    *,
    schema: str = "verify",
    ignore: Collection[str] = (),
    keep: bool = False,
    on_run: Callable[[WorkflowHistory], None] | None = None,
) -> VerifyReport:
    """Rebuilds into `schema` and compares; the scratch schema is dropped unless `keep`."""
    unknown = sorted(c for c in ignore if _column_missing(c))
    if unknown:
        raise ValueError(f"--ignore names no projection column: {', '.join(unknown)}")
    cipher = RecordingCipher(keyring)
    stats = await rebuild(source, engine, cipher, schema=schema, on_run=on_run)
    try:
        cells = Cells(cipher)
        tables = derived_tables(stats.tables)
        erased = set(erased_clients(engine))
        differences: list[Difference] = []
        compared: dict[str, int] = {}
        for table in tables:
            found, compared[table.name] = compare_table(
                engine, table, schema, cells, ignore, erased
            )
            differences += found
        others = [t for t in metadata.sorted_tables if t not in tables]
        unverified = {name: n for name, n in _live_counts(engine, others).items() if n}
    finally:
        if not keep:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    return VerifyReport(stats, compared, unverified, sorted(ignore), differences)


def _column_missing(spec: str) -> bool:
    table, _, column = spec.partition(".")
    return table not in metadata.tables or column not in metadata.tables[table].c
