"""Replay on every core: batches of histories replayed in worker processes.

Replaying is workflow code running in Python, so one process replays on one core whatever the
machine has. Here each of `jobs` processes keeps its own Replayers (one per converter) and
replays the batches it is handed; the reports are merged in the order the batches were made.
The verdicts are those of `audit.replay` in one process: the same functions decide them, only
in more processes. Processes are spawned, never forked: the parent may already run the SDK's
core runtime (a server source), whose threads a fork would not carry over.

Exported files are read and parsed in the processes, so the parent only hands out paths;
server histories are fetched by the parent (I/O, up to a few batches ahead of the replay) and
shipped as serialized protobuf.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from audit import replay, sources
from infra.keys import KeyRing
from infra.temporal import data_converter

BATCH = 25
"""Histories per task for a stream of unknown length (a server's); enough that handing a
batch over costs little next to replaying it, few enough that the processes finish together."""


def default_jobs() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without CPU affinity
        return os.cpu_count() or 1


def _given(ring: KeyRing) -> KeyRing:
    return ring


@dataclass(frozen=True)
class _Setup:
    """What a replay process is started with; it must pickle (module-level classes do)."""

    workflows: tuple[type, ...]
    keyring: Callable[[], KeyRing]
    """Called in the process the first time an encrypted history needs it."""
    by_payload: bool
    """Exported files: a decrypted copy replays without the codec. Server histories always go
    through the ring's converter, as the server's client would read them."""
    namespace: str
    """Where the histories were written: their payloads are bound to it."""


class _Process:
    """The state of one replay process: its setup, its Replayers, its event loop."""

    setup: _Setup
    replayers: dict[bool, Replayer]
    loop: asyncio.AbstractEventLoop

    @classmethod
    def start(cls, setup: _Setup) -> None:
        from infra.logging import configure_logging, core_runtime_until_exit

        # The core's replay warnings repeat what the report names; as in the auditor, only
        # errors are logged, and before the first Replayer makes the core runtime.
        configure_logging(logging.WARNING)
        core_runtime_until_exit("ERROR")
        cls.setup, cls.replayers, cls.loop = setup, {}, asyncio.new_event_loop()
        atexit.register(cls.stop)  # before the runtime's teardown, which needs them gone

    @classmethod
    def stop(cls) -> None:
        cls.replayers.clear()
        cls.loop.close()

    @classmethod
    def replayer(cls, encrypted: bool) -> Replayer:
        if encrypted not in cls.replayers:
            converter = (
                data_converter(cls.setup.keyring()) if encrypted else replay.plain_converter()
            )
            cls.replayers[encrypted] = replay.replayer(
                cls.setup.workflows, converter, cls.setup.namespace
            )
        return cls.replayers[encrypted]


Packed = tuple[str, bytes]
"""A server history on its way to a process: workflow id, serialized `History`."""


def _pack(history: WorkflowHistory) -> Packed:
    return history.workflow_id, History(events=history.events).SerializeToString()


def _unpack(packed: Packed) -> WorkflowHistory:
    workflow_id, data = packed
    return WorkflowHistory(workflow_id, list(History.FromString(data).events))


def _replay_batch(batch: Sequence[Path] | Sequence[Packed]) -> replay.ReplayReport:
    """Runs in a replay process."""
    histories = [
        sources.from_file(item) if isinstance(item, Path) else _unpack(item) for item in batch
    ]
    if _Process.setup.by_payload:
        work = replay.replay_loaded(histories, _Process.replayer)
    else:
        work = replay.replay_with(_Process.replayer(True), sources.from_list(histories))
    return _Process.loop.run_until_complete(work)


def _pool(jobs: int, setup: _Setup) -> Executor:
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_Process.start,
        initargs=(setup,),
    )


async def _merged(futures: Sequence[Future[replay.ReplayReport]]) -> replay.ReplayReport:
    report = replay.ReplayReport()
    for future in futures:
        report.merge(await asyncio.wrap_future(future))
    return report


async def replay_files(
    paths: Sequence[Path],
    workflows: Sequence[type],
    keyring: Callable[[], KeyRing],
    jobs: int,
    namespace: str | None = None,
) -> replay.ReplayReport:
    """`audit.replay.replay_files` in up to `jobs` processes. `keyring` is called in each
    process that meets an encrypted export, so it must pickle (a module-level function or a
    `functools.partial` of one); decrypted exports never call it."""
    batches = math.ceil(len(paths) / BATCH)
    if jobs <= 1 or batches <= 1:
        return await replay.replay_files(paths, workflows, keyring, namespace)
    # About four batches per process: small enough that none is left replaying alone at the
    # end, large enough that each process replays many histories per batch handed over.
    size = math.ceil(len(paths) / (jobs * 4))
    setup = _Setup(tuple(workflows), keyring, True, replay.replay_namespace(namespace))
    with _pool(jobs, setup) as pool:
        futures = [
            pool.submit(_replay_batch, list(paths[i : i + size]))
            for i in range(0, len(paths), size)
        ]
        return await _merged(futures)


async def replay_stream(
    histories: AsyncIterator[WorkflowHistory],
    workflows: Sequence[type],
    keyring: KeyRing,
    jobs: int,
    namespace: str | None = None,
) -> replay.ReplayReport:
    """`audit.replay.replay` of server histories (decrypted with `keyring`, as the server's
    client decrypts them) in up to `jobs` processes. A stream that ends within one batch is
    replayed here: starting processes would cost more than it saves."""
    first: list[WorkflowHistory] = []
    async for history in histories:
        first.append(history)
        if len(first) > BATCH:
            break
    if jobs <= 1 or len(first) <= BATCH:
        converter = data_converter(keyring)
        return await replay.replay(_chained(first, histories), workflows, converter, namespace)
    setup = _Setup(
        tuple(workflows), partial(_given, keyring), False, replay.replay_namespace(namespace)
    )
    report = replay.ReplayReport()
    with _pool(jobs, setup) as pool:
        # Bounded look-ahead: a query may match millions of runs, so only a few batches per
        # process are fetched and waiting at any time.
        pending: deque[Future[replay.ReplayReport]] = deque()
        batch: list[Packed] = []
        async for history in _chained(first, histories):
            batch.append(_pack(history))
            if len(batch) == BATCH:
                pending.append(pool.submit(_replay_batch, batch))
                batch = []
            while len(pending) >= 2 * jobs:
                report.merge(await asyncio.wrap_future(pending.popleft()))
        if batch:
            pending.append(pool.submit(_replay_batch, batch))
        report.merge(await _merged(pending))
    return report


async def _chained(
    first: Sequence[WorkflowHistory], rest: AsyncIterator[WorkflowHistory]
) -> AsyncIterator[WorkflowHistory]:
    for history in first:
        yield history
    async for history in rest:
        yield history
