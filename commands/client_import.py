"""`starter.py client import FILE`: onboards every row of a JSON Lines or CSV file.

Each row is one `client onboard` body and goes through the same validation and the same
update-with-start. A re-run is safe and cheap: clients whose workflow exists already (running,
or closed: an offboarded client is not brought back by an import) are skipped after one
visibility query per batch of rows, and a client that visibility has not listed yet is only
sent again, which updates the same workflow with the same file. So an interrupted import is
resumed by running it again.

CSV columns name fields of the body by their dotted path (`basic.name`, `metrics.aum`); a
number in the path is a list position (`financial.assets.0.amount`, `risk_answers.3`,
`consents.granted.sms.0`). An empty cell leaves its field out. Cells are text; pydantic reads
numbers, dates and true/false from it, and cells of integer fields (risk answers,
`metrics.transactions_12m`) are read as integers first.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from commands.base import CommandContext, CommandError
from commands.clients import onboard_file, parse, split_owed
from domain.client import ClientFile
from infra.progress import progress_bar
from workflows.client_service.models import OwedDuty, workflow_id_for

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
CONCURRENCY = 32
"""Onboardings in flight by default: enough to keep a worker busy, few enough that one slow
row does not hold many others' answers back."""
BATCH = 200
"""Rows whose existence one visibility query checks."""
ROW_WAIT = timedelta(minutes=5)
"""How long a row's onboarding may go unanswered before it is reported: longer than a single
command waits (`complaint_replies.ANSWER_WITHIN`), since an import keeps a worker's queue full
and its rows wait their turn behind one another."""


@dataclass(frozen=True)
class Row:
    line: int
    body: dict[str, Any] | None = None
    problem: str | None = None
    """Why the row could not be read; never a value from it."""


@dataclass
class Summary:
    file: str
    format: str
    rows: int = 0
    onboarded: int = 0
    skipped: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    """`{"line", "reason"}` per refused row: line numbers and rules, never the row's values."""
    failed: list[dict[str, Any]] = field(default_factory=list)
    """Rows that could not be sent (Temporal did not answer); a re-run sends them."""

    def as_json(self, seconds: float) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "onboarded": self.onboarded,
            "skipped": self.skipped,
            "refused": len(self.refused),
            "failed": len(self.failed),
            "refused_rows": sorted(self.refused, key=lambda r: r["line"]),
            "failed_rows": sorted(self.failed, key=lambda r: r["line"]),
            "seconds": round(seconds, 1),
        }


def _format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(f"*{suffix}" for suffix in FORMATS)
        raise CommandError(
            f"client import: the file's name tells its format: {known}", "usage"
        ) from None


def _jsonl(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as lines:
        for line, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                body = json.loads(text)
            except json.JSONDecodeError as err:
                yield Row(line, problem=f"not valid JSON: {err.msg} at column {err.colno}")
                continue
            if isinstance(body, dict):
                yield Row(line, body)
            else:
                yield Row(line, problem="a row must be a JSON object (one onboard body)")


_SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def _columns(header: list[str]) -> list[tuple[str, ...]]:
    """The header's dotted paths, refused as a whole (before any row is sent) when one is not a
    path or two would write the same place."""
    paths = [tuple(name.strip().split(".")) for name in header]
    for name, path in zip(header, paths, strict=True):
        if not all(_SEGMENT.match(segment) for segment in path):
            raise CommandError(
                f"client import: CSV column {name.strip()!r} is not a dotted field path such "
                "as basic.name or financial.assets.0.amount",
                "usage",
            )
    ordered = sorted(paths)
    for before, after in itertools.pairwise(ordered):
        if after[: len(before)] == before:
            raise CommandError(
                f"client import: CSV columns {'.'.join(before)!r} and {'.'.join(after)!r} "
                "would both set the same field",
                "usage",
            )
    return paths


def _csv(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        columns = _columns(header)
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield Row(line, problem=f"not a CSV record: {err}")
                continue
            if not cells:
                continue
            if len(cells) > len(columns):
                yield Row(line, problem=f"{len(cells)} cells, but the header has {len(columns)}")
                continue
            yield Row(line, _nested(zip(columns, cells, strict=False)))


def _nested(cells: Iterable[tuple[tuple[str, ...], str]]) -> dict[str, Any]:
    """The body the cells spell out: dotted paths become objects, numbered ones lists."""
    root: dict[str, Any] = {}
    for path, text in cells:
        if text == "":
            continue
        node = root
        for segment in path[:-1]:
            node = node.setdefault(segment, {})
        node[path[-1]] = int(text) if _INTEGER.match(text) and _integer(path) else text
    return _lists(root)  # type: ignore[no-any-return]


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


@cache
def _integer(path: tuple[str, ...]) -> bool:
    """Whether the onboard body's schema says the field at `path` is an integer."""
    schema = ClientFile.model_json_schema()
    return _types_at(schema, schema, path) == {"integer"}


def _types_at(root: dict[str, Any], node: dict[str, Any], path: tuple[str, ...]) -> set[str]:
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        return set().union(*(_types_at(root, option, path) for option in options))
    if not path:
        return {node["type"]} if "type" in node else set()
    head, rest = path[0], path[1:]
    if "items" in node and head.isdigit():
        return _types_at(root, node["items"], rest)
    if head in node.get("properties", {}):
        return _types_at(root, node["properties"][head], rest)
    if isinstance(node.get("additionalProperties"), dict):
        return _types_at(root, node["additionalProperties"], rest)
    return set()


def _rows(path: Path, fmt: str) -> Iterator[Row]:
    return _jsonl(path) if fmt == "jsonl" else _csv(path)


def _count(path: Path, fmt: str) -> int:
    """Rows in the file, read once before anything is sent: a file that is not UTF-8 text (or
    has a bad header) is refused whole, rather than after part of it was imported."""
    try:
        return sum(1 for _ in _rows(path, fmt))
    except UnicodeDecodeError as err:
        raise CommandError(
            f"client import: the file is not UTF-8 text (at byte {err.start})", "usage"
        ) from None
    except (OSError, ValueError) as err:  # ValueError: a path with a NUL byte
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not a file path"
        raise CommandError(f"client import: cannot read the file: {reason}", "usage") from None


async def _existing(ctx: CommandContext, files: list[ClientFile]) -> set[str]:
    """The clients among `files` that have a workflow, running or closed (one query)."""
    by_workflow = {workflow_id_for(f.client_id): f.client_id for f in files}
    # Client ids are safe identifiers (letters, digits, '-', '_'): nothing to escape.
    ids = ", ".join(f"'{f.client_id}'" for f in files)
    query = f"WorkflowType='ClientServiceWorkflow' AND ClientId IN ({ids})"
    return {
        by_workflow[execution.id]
        async for execution in ctx.client.list_workflows(query)
        if execution.id in by_workflow
    }


async def run(ctx: CommandContext, file_arg: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """`client import FILE`: the summary, or (some rows refused or not sent) a refusal whose
    details are the summary."""
    if not file_arg:
        raise CommandError("client import needs the file: client import FILE", "usage")
    if body:
        raise CommandError("client import takes no body: the rows are in the file", "usage")
    limit = CONCURRENCY if ctx.concurrency is None else ctx.concurrency
    if limit < 1:
        raise CommandError("client import: --concurrency must be at least 1", "usage")
    path = Path(file_arg)
    fmt = _format(path)
    total = _count(path, fmt)
    summary = Summary(file=path.name, format=fmt, rows=total)
    started = time.monotonic()
    with progress_bar("importing clients", total) as advance:
        await _import(ctx, _rows(path, fmt), summary, limit, advance)
    report = summary.as_json(time.monotonic() - started)
    if summary.refused or summary.failed:
        raise CommandError(
            f"client import: of {total} row(s), {len(summary.refused)} refused and "
            f"{len(summary.failed)} not sent (lines in details); the others are onboarded or "
            "were already: fix the refused rows and run the import again",
            "rejected",
            details=report,
        )
    return report


TRANSIENT = frozenset(
    {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED}
)
ATTEMPTS = 3


async def _onboard_row(ctx: CommandContext, file: ClientFile, owed: list[OwedDuty]) -> None:
    """One row's onboarding, sent again when an overloaded server gave up on it (the SDK
    reports the server's own deadline as an update timeout), within `ROW_WAIT` in all: the
    row's own update id makes a repeat answered, not applied twice, if the first got through."""
    deadline = time.monotonic() + ROW_WAIT.total_seconds()
    for attempt in range(1, ATTEMPTS + 1):
        left = deadline - time.monotonic()
        try:
            # Nobody reads a row back here: the next row need not wait for the read models.
            await onboard_file(
                ctx,
                file,
                rpc_timeout=timedelta(seconds=max(left, 1.0)),
                read_your_writes=False,
                update_id=f"import-{file.client_id}",
                owed=owed,
            )
            return
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            transient = not isinstance(err, RPCError) or err.status in TRANSIENT
            if not transient or attempt == ATTEMPTS or time.monotonic() + attempt >= deadline:
                raise
            await asyncio.sleep(attempt)


async def _import(
    ctx: CommandContext, rows: Iterator[Row], summary: Summary, limit: int, advance: Any
) -> None:
    gate = asyncio.Semaphore(limit)
    running: set[asyncio.Task[None]] = set()
    broken: list[BaseException] = []

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            broken.append(task.exception())  # type: ignore[arg-type]

    seen: dict[str, int] = {}

    def refuse(line: int, reason: str) -> None:
        summary.refused.append({"line": line, "reason": reason})
        advance()

    async def onboard(line: int, file: ClientFile, owed: list[OwedDuty]) -> None:
        try:
            await _onboard_row(ctx, file, owed)
            summary.onboarded += 1
        except CommandError as err:
            summary.refused.append({"line": line, "reason": err.message})
        except RPCError as err:
            summary.failed.append({"line": line, "reason": f"Temporal did not answer: {err}"})
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # One stuck row must not hold the import: it is reported, and a re-run sends it.
            summary.failed.append(
                {
                    "line": line,
                    "reason": f"no answer within {ROW_WAIT.total_seconds():g}s (is a worker "
                    "running?); it may still be onboarded: a re-run skips or sends it",
                }
            )
        finally:
            gate.release()
            advance()

    async def send(batch: list[tuple[int, ClientFile, list[OwedDuty]]]) -> None:
        try:
            existing = await _existing(ctx, [file for _, file, _ in batch])
        except RPCError as err:
            # Not sent: without the check an offboarded client could be onboarded anew.
            for line, _, _ in batch:
                summary.failed.append({"line": line, "reason": f"visibility did not answer: {err}"})
                advance()
            return
        for line, file, owed in batch:
            if file.client_id in existing:
                summary.skipped += 1
                advance()
                continue
            await gate.acquire()
            task = asyncio.create_task(onboard(line, file, owed))
            running.add(task)
            task.add_done_callback(finished)

    batch: list[tuple[int, ClientFile, list[OwedDuty]]] = []
    for row in rows:
        if row.body is None:
            refuse(row.line, row.problem or "unreadable")
            continue
        try:
            rest, owed = split_owed(row.body)
            file = parse(ClientFile, rest, "client onboard")
        except CommandError as err:
            refuse(row.line, err.message)
            continue
        if file.client_id in seen:
            refuse(row.line, f"the same client_id as line {seen[file.client_id]}")
            continue
        seen[file.client_id] = row.line
        batch.append((row.line, file, owed))
        if len(batch) == BATCH:
            await send(batch)
            batch = []
    if batch:
        await send(batch)
    await asyncio.gather(*running)
    if broken:  # a defect, not a refusal: it must not pass for a row's outcome
        raise broken[0]
