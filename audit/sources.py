"""Where histories come from: a workflow id (its whole continue-as-new chain), a visibility
query (every run it matches, paged), or JSON files, singly or a directory of them (the SDK's
`to_json()` or the CLI's `temporal workflow show --output json`: the same protobuf JSON)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from audit.payloads import copied, decoded_history
from infra import cli


class HistorySourceError(Exception):
    """A history cannot be obtained; the message says which and why."""


def started(history: WorkflowHistory) -> WorkflowExecutionStartedEventAttributes:
    """The first event's attributes, which every history must start with."""
    if not history.events or not history.events[0].HasField(
        "workflow_execution_started_event_attributes"
    ):
        raise HistorySourceError(
            f"history of {history.workflow_id!r} does not begin with WorkflowExecutionStarted"
        )
    return history.events[0].workflow_execution_started_event_attributes


def workflow_type(history: WorkflowHistory) -> str:
    return str(started(history).workflow_type.name)


async def fetch_run(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHistory:
    try:
        return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            run = f" run {run_id}" if run_id else ""
            raise HistorySourceError(f"workflow {workflow_id!r}{run} not found") from err
        raise


async def chain(
    client: Client, workflow_id: str, run_id: str | None = None, *, all_runs: bool = True
) -> list[WorkflowHistory]:
    """The run (default: the latest) and, with `all_runs`, every run it continued from, oldest
    first. Follows `continued_execution_run_id` back, so it needs no visibility store."""
    runs = [await fetch_run(client, workflow_id, run_id)]
    while all_runs and (previous := started(runs[-1]).continued_execution_run_id):
        runs.append(await fetch_run(client, workflow_id, previous))
    return runs[::-1]


async def matching(
    client: Client, query: str = "", *, concurrency: int = 8
) -> AsyncIterator[WorkflowHistory]:
    """Every run the visibility `query` matches (closed continued-as-new runs included), with up
    to `concurrency` histories fetched ahead, yielded in listing order."""
    ahead: deque[asyncio.Task[WorkflowHistory]] = deque()
    try:
        async for execution in client.list_workflows(query):
            ahead.append(asyncio.create_task(fetch_run(client, execution.id, execution.run_id)))
            if len(ahead) >= concurrency:
                yield await ahead.popleft()
        while ahead:
            yield await ahead.popleft()
    finally:
        for task in ahead:
            task.cancel()


async def count(client: Client, query: str = "") -> int | None:
    """How many runs `query` matches, or None where the server cannot count."""
    try:
        return (await client.count_workflows(query)).count
    except RPCError:
        return None


def from_file(path: Path) -> WorkflowHistory:
    """A history exported as JSON. Its workflow id is read from the start event (servers since
    1.21 record it there), else taken from the file name."""
    try:
        raw = cli.loads(cli.utf8(path.read_bytes()))
    except OSError as exc:
        raise HistorySourceError(f"{path}: cannot read a JSON history: {exc}") from exc
    except cli.JsonInputError as exc:
        raise HistorySourceError(f"{path}: cannot read a JSON history: it {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
        raise HistorySourceError(
            f"{path}: not a history export (expected an object with an 'events' list, as "
            "`temporal workflow show --output json` writes)"
        )
    try:
        history = WorkflowHistory.from_json(path.stem, raw)
    except Exception as exc:
        raise HistorySourceError(f"{path}: not a valid history: {exc}") from exc
    recorded = started(history).workflow_id
    return WorkflowHistory(recorded, history.events) if recorded else history


async def from_list(histories: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def saved_json(history: WorkflowHistory, codec: PayloadCodec | None) -> str:
    """A history as JSON for `tests/histories/`. With `codec` its payloads are decrypted, so the
    file replays under any key ring (the test suite makes a fresh one per session). The workflow
    id is written into the start event, where servers since 1.21 keep it, so the file says whose
    history it is (the time-skipping test server leaves it out)."""
    history = await decoded_history(history, codec) if codec is not None else copied(history)
    first = started(history)
    first.workflow_id = first.workflow_id or history.workflow_id
    return history.to_json() + "\n"


@dataclass(frozen=True)
class Histories:
    """Runs to read and the converter their payloads need: a server's, or exported files'."""

    runs: Callable[[], AsyncIterator[WorkflowHistory]]
    converter: DataConverter
    total: int | None = None


async def on_server(client: Client, query: str = "") -> Histories:
    """Every run the visibility `query` matches on the client's server."""
    return Histories(
        lambda: matching(client, query), client.data_converter, await count(client, query)
    )


def json_files(directory: Path) -> list[Path]:
    """The `*.json` exports in `directory` (as `starter.py demo year` writes them), in order."""
    if not directory.is_dir():
        raise HistorySourceError(f"{directory}: no such directory of history exports")
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise HistorySourceError(f"{directory}: holds no *.json history exports")
    return paths


def in_directory(directory: Path, converter: DataConverter) -> Histories:
    """Every export in `directory`, read one at a time as the rebuild asks for them."""
    paths = json_files(directory)

    async def runs() -> AsyncIterator[WorkflowHistory]:
        for path in paths:
            yield await asyncio.to_thread(from_file, path)

    return Histories(runs, converter, len(paths))
