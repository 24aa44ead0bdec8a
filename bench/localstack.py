"""A throwaway Client Care stack on this machine, for benchmarks and fault tests.

Fault tests need servers they own as processes (to restart Temporal on its file, to stop
PostgreSQL, to SIGKILL the worker), and the cadence benchmark needs the worker in a process of
its own to read its RSS; the shared fixtures run Temporal inside the SDK's `WorkflowEnvironment`
and the worker in-process, which allows neither. Everything here binds 127.0.0.1 only and dies
with its parent (`die_with_parent`), so a crashed run leaves no servers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from temporalio.client import Client

from infra.binaries import temporal_cli
from infra.deployment import dev_server_flags
from infra.embedded_pg import EmbeddedPostgres, free_port
from infra.keys import KeyRing, new_key_entry
from infra.processes import die_with_parent, wait_for_port
from infra.settings import ROOT
from infra.temporal import data_converter, register_search_attributes, search_attribute_flags
from workflows import search_attributes


def _popen(
    argv: list[str], log_path: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            cwd=cwd,
            env=env,
        )


def _end(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class DevServer:
    """`temporal server start-dev` on a persistent SQLite file, restartable on the same port."""

    def __init__(self, db_file: Path, port: int | None = None) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self.log_path = db_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        argv = [
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--headless",
            "--log-level",
            "error",
            *search_attribute_flags(search_attributes.ALL),
            *dev_server_flags(),
        ]
        self.process = _popen(argv, self.log_path)
        wait_for_port(self.port, self.process, timeout, "the Temporal dev server")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: the server flushes and closes its SQLite file, as on a planned restart."""
        proc, self.process = self.process, None
        _end(proc, signal.SIGTERM, timeout)

    async def client(self, keyring: KeyRing, namespace: str = "default") -> Client:
        return await ready_client(self.address, namespace, keyring)


async def ready_client(
    address: str, namespace: str, keyring: KeyRing, within: float = 60.0
) -> Client:
    """A client once the frontend answers: the port opens before the namespace is ready, and
    a restarting server refuses connections for a while."""
    deadline = time.monotonic() + within
    while True:
        try:
            client = await Client.connect(
                address, namespace=namespace, data_converter=data_converter(keyring)
            )
            await client.count_workflows()
            return client
        except Exception as exc:  # RuntimeError while connecting, RPCError while warming up
            if time.monotonic() > deadline:
                raise RuntimeError(f"Temporal at {address} never answered: {exc}") from exc
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Endpoints:
    """What a worker process needs: the environment `worker.py` reads."""

    temporal_address: str
    database_url: str
    keys: str
    namespace: str = "default"
    task_queue: str = "client-care"

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_TASK_QUEUE": self.task_queue,
            "DATABASE_URL": self.database_url,
            "CLIENT_CARE_KEYS": self.keys,
            "LOG_FORMAT": "json",
            **extra,
        }

    @property
    def keyring(self) -> KeyRing:
        return KeyRing.parse(self.keys)


class WorkerProcess:
    """`worker.py` as a child process, run from an empty directory so no `.env` leaks in."""

    def __init__(self, endpoints: Endpoints, workdir: Path, name: str = "worker") -> None:
        self.endpoints = endpoints
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0, **env: str) -> None:
        self.wait_started(self.spawn(**env), timeout)

    def spawn(self, **env: str) -> int:
        """Starts the process (in the calling thread: it dies with the thread that spawned it);
        returns the log offset its "worker started" will follow."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = _popen(
            [sys.executable, str(ROOT / "worker.py")],
            self.log_path,
            cwd=self.workdir,
            env={**os.environ, **self.endpoints.worker_env(**env)},
        )
        return offset

    def wait_started(self, offset: int, timeout: float = 60.0) -> datetime:
        """Waits for "worker started" in the log after `offset`; returns when it said so."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker.py exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            for e in self.log_events(offset):
                if e.get("event") == "worker started":
                    return datetime.fromisoformat(str(e["timestamp"]))
            time.sleep(0.1)
        raise RuntimeError(f"worker.py did not start within {timeout:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, running activities and workflow tasks are abandoned."""
        proc, self.process = self.process, None
        _end(proc, signal.SIGKILL, 10)

    def stop(self, timeout: float = 40.0) -> int | None:
        proc, self.process = self.process, None
        _end(proc, signal.SIGTERM, timeout)
        return None if proc is None else proc.returncode

    def log_events(self, offset: int = 0) -> Iterator[dict[str, object]]:
        if not self.log_path.exists():
            return
        with self.log_path.open("rb") as f:
            f.seek(offset)
            for line in f:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        yield event

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class WorkerProcesses:
    """`count` `worker.py` processes on one task queue, as one deployment version (the same code
    and the same `TEMPORAL_DEPLOYMENT_NAME`): scaling out is more processes of one version, each
    polling the queue; the server hands every task to whichever asks first."""

    def __init__(self, endpoints: Endpoints, workdir: Path, count: int, name: str = "worker"):
        self.workers = [WorkerProcess(endpoints, workdir, f"{name}-{n + 1}") for n in range(count)]
        self.started_at: list[datetime] = []
        """When each said "worker started" (its log's timestamp)."""

    def start(self, env: Mapping[str, str], timeout: float = 120.0) -> None:
        """Spawns them all, `env` over the endpoints' environment, then waits for each one's
        "worker started"; stops every one of them if any fails to start. Call it from a thread
        that outlives the workers (a worker dies with the thread that spawned it)."""
        offsets = [w.spawn(**env) for w in self.workers]
        try:
            self.started_at = [
                w.wait_started(o, timeout) for w, o in zip(self.workers, offsets, strict=True)
            ]
        except Exception:
            self.stop()
            raise

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM to all at once, then waits for each: they drain side by side."""
        for w in self.workers:
            if w.process is not None and w.process.poll() is None:
                w.process.send_signal(signal.SIGTERM)
        for w in self.workers:
            w.stop(timeout)


@contextlib.asynccontextmanager
async def local_stack(
    workdir: Path, env: Mapping[str, str] = os.environ, *, log: bool = True
) -> AsyncIterator[Endpoints]:
    """Endpoints to run against: TEMPORAL_ADDRESS / DATABASE_URL / CLIENT_CARE_KEYS when set,
    else a dev server and an embedded PostgreSQL started here (and stopped on exit)."""
    from projections.migrate import upgrade

    def say(text: str) -> None:
        if log:
            print(text, file=sys.stderr, flush=True)

    os.environ.setdefault("CLIENT_CARE_PG_FAST", "1")  # fsync off: a benchmark's data is scrap
    keys = env.get("CLIENT_CARE_KEYS") or new_key_entry("bench1")
    server: DevServer | None = None
    pg: EmbeddedPostgres | None = None
    try:
        address = env.get("TEMPORAL_ADDRESS")
        if not address:
            server = DevServer(workdir / "temporal.db")
            say(f"starting a Temporal dev server on {server.address} (log {server.log_path})")
            server.start()
            address = server.address
        url = env.get("DATABASE_URL")
        if not url:
            pg = EmbeddedPostgres(workdir / "pg", free_port())
            say(f"starting PostgreSQL on 127.0.0.1:{pg.port}")
            pg.start()
            url = pg.url
        for plain in ("postgresql://", "postgres://"):  # SQLAlchemy wants the driver named
            if url.startswith(plain):
                url = "postgresql+psycopg://" + url[len(plain) :]
        upgrade(url)
        endpoints = Endpoints(
            temporal_address=address,
            database_url=url,
            keys=keys,
            namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=env.get("TEMPORAL_TASK_QUEUE", "client-care"),
        )
        client = await connect(endpoints)
        if server is None:
            await register_search_attributes(client, search_attributes.ALL)
        yield endpoints
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            pg.stop()


async def connect(endpoints: Endpoints) -> Client:
    return await ready_client(endpoints.temporal_address, endpoints.namespace, endpoints.keyring)
