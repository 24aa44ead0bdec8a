"""What every command gets, and how a refusal is reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import Priority

from domain.identifiers import key, safe_identifier
from domain.policy import Policy
from domain.policy_versions import PolicyInForce


class CommandError(Exception):
    """A refused command: starter prints `{"error": code, "message": ...}` and exits non-zero."""

    def __init__(self, message: str, code: str = "rejected", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        return out


@dataclass(frozen=True)
class CommandContext:
    client: Client
    policy: Policy
    task_queue: str = "client-care"
    complaint_task_queue: str | None = None
    """Where complaints (and their matter registries) start; None: `task_queue`."""
    engine: Engine | None = field(default=None, compare=False)
    """The read-model database, for commands that read projections (reports, measures)."""
    request_id: str | None = None
    """The caller's key for this request (`--request-id`): a command sent again with the same
    key is not applied again, it gets the first one's answer (Temporal deduplicates an update by
    its id within a workflow run)."""
    settle_within: float = 5.0
    """Seconds a client command waits, after the workflow's answer, for the read models to show
    the change (read-your-writes); past that it answers anyway: the change is applied, the read
    models follow it."""

    concurrency: int | None = None
    """How many commands a bulk command (`client import`) keeps in flight; None: its default."""
    sealer: Any = field(default=None, compare=False)
    """What seals and opens clients' personal fields (`projections.subject_keys.Sealer`); None:
    the subject keys in the read models' database (`commands.sealing.sealer_for`)."""
    versions: PolicyInForce = field(default_factory=PolicyInForce)
    """Which published version `policy` is, and one pending: what workflows this command
    starts are started under (`commands.policy.resolve`; the default: the policy file)."""

    db_patience: float = 120.0
    """Seconds a command's own use of the read models' database (sealing under a client's key,
    finding a complaint's client, recording a read) waits out an outage, retrying, before it
    answers `unavailable` (exit 3): a database restart or failover delays commands, as it
    delays projections, rather than failing them."""

    priorities: bool = True
    """Whether starts carry their task-queue priority (`domain.priorities`); False starts every
    workflow at the server's default, which is how the Spring Festival benchmark measures what
    the priorities buy."""

    def __post_init__(self) -> None:
        request_id_arg(self.request_id)  # a service may build its context without starter

    @property
    def complaint_queue(self) -> str:
        return self.complaint_task_queue or self.task_queue

    def priority(self, key: int) -> Priority:
        """The priority a start of this kind of work carries (`domain.priorities`)."""
        return Priority(priority_key=key) if self.priorities else Priority.default

    def update_id(self, verb: str) -> str | None:
        """The update id a request key gives one verb; None lets Temporal pick a fresh one."""
        return f"{verb}:{self.request_id}" if self.request_id else None


def id_arg(value: str | None, noun: str, verb: str) -> str:
    """The ID argument of `<noun> <verb> ID`: required, and a safe identifier."""
    if not value:
        raise CommandError(f"{noun} {verb} needs the {noun} id: {noun} {verb} ID", "usage")
    try:
        return safe_identifier(value)
    except ValueError as err:
        raise CommandError(f"{noun} {verb}: {err}", "invalid") from None


def request_id_arg(value: str | None) -> str | None:
    """A caller's request key: it becomes a Temporal update id, stored in clear."""
    if value is None:
        return None
    try:
        return key(value)
    except ValueError as err:
        raise CommandError(f"--request-id {err}", "usage") from None


def engine_for(ctx: CommandContext) -> Engine:
    """The context's engine when it carries one (tests, an embedding service), else settings'."""
    return ctx.engine if ctx.engine is not None else _settings_engine()


@lru_cache(maxsize=1)
def _settings_engine() -> Engine:
    from infra.database import database_url, make_engine
    from infra.settings import get_settings

    return make_engine(database_url(get_settings()))


_T = TypeVar("_T")


async def in_database(ctx: CommandContext, work: Callable[..., _T], *args: Any) -> _T:
    """`work(*args)` in a thread, retried while the database is out of reach (a connection
    refused or dropped), up to `ctx.db_patience` seconds; then `unavailable`. Any other error,
    and a refusal `work` raises, goes to the caller at once."""
    import asyncio

    from sqlalchemy.exc import OperationalError

    loop = asyncio.get_running_loop()
    until = loop.time() + ctx.db_patience
    pause = 0.2
    while True:
        try:
            return await asyncio.to_thread(work, *args)
        except OperationalError as exc:
            if loop.time() + pause > until:
                reason = type(exc.orig).__name__ if exc.orig else "error"
                raise CommandError(
                    f"the read models' database is unavailable ({reason})", "unavailable"
                ) from None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


Command = Callable[[CommandContext, str | None, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(context, ID from the command line or None, JSON body) -> the JSON object to print."""
