"""Policy versions: the store (`policy_versions`), the version in force, and telling every live
workflow of a new one.

The rollout finds live workflows in the read models, as the tier review finds its clients
(visibility is eventually consistent and limited on the test server): running clients in
`clients`, open complaints in `complaints`, a page at a time by workflow id. A page heartbeats
how far it got, so a retried attempt resumes there; a repeat signal is harmless (the workflow
ignores a version it already knows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from domain.complaint import OPEN
from domain.enums import ServiceStatus
from domain.policy_versions import PolicyVersion, in_force
from infra.concurrency import gather_bounded
from projections.tables import clients, complaints, policy_versions

SIGNAL_CONCURRENCY = 20
Target = Literal["clients", "complaints"]


class PolicyVersionConflict(ValueError):
    """A version id already published with a different policy or effective instant."""


def publish(engine: Engine, version: PolicyVersion, by: str, now: datetime) -> bool:
    """Stores the version; False when exactly this version is already stored. A version id
    names one policy for good: the same id with other content is refused."""
    row = {
        "version_id": version.version_id,
        "effective_from": version.effective_from,
        "digest": version.digest,
        "policy": version.policy.model_dump(mode="json"),
        "published_at": now,
        "published_by": by,
    }
    with engine.begin() as conn:
        added = conn.execute(
            insert(policy_versions)
            .values(row)
            .on_conflict_do_nothing()
            .returning(policy_versions.c.version_id)
        ).first()
        if added is not None:
            return True
        stored = conn.execute(
            select(policy_versions.c.digest, policy_versions.c.effective_from).where(
                policy_versions.c.version_id == version.version_id
            )
        ).one()
    if stored.digest != version.digest or stored.effective_from != version.effective_from:
        raise PolicyVersionConflict(
            f"policy version {version.version_id} is already published with a different "
            "policy or effective date; publish the change under a new version id"
        )
    return False


def stored_rows(engine: Engine) -> list[dict[str, object]]:
    """Every published version's row, in publication order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(policy_versions).order_by(
                policy_versions.c.published_at, policy_versions.c.version_id
            )
        )
        return [dict(r._mapping) for r in rows]


def as_version(row: dict[str, object]) -> PolicyVersion:
    return PolicyVersion.model_validate(
        {k: row[k] for k in ("version_id", "effective_from", "policy")}
    )


def versions(engine: Engine) -> list[PolicyVersion]:
    """Every published version, in publication order."""
    return [as_version(r) for r in stored_rows(engine)]


class PolicyAt(BaseModel):
    at: datetime


class PolicySignalPage(BaseModel):
    version: PolicyVersion
    target: Target
    signal: str
    after_workflow_id: str | None = None
    limit: int = 500


class PolicySignalPageResult(BaseModel):
    signalled: int
    next_after: str | None


class PolicyProgress(BaseModel):
    """The heartbeat: the last workflow id of the page signalled so far."""

    after: str | None = None
    signalled: int = 0


class PolicyActivities:
    def __init__(self, deps: ActivityDeps, client: Client) -> None:
        self._deps = deps
        self._client = client

    @activity.defn(name="policy_in_force")
    def policy_in_force(self, req: PolicyAt) -> PolicyVersion | None:
        return in_force(versions(self._deps.engine), req.at)

    @activity.defn(name="signal_policy_page")
    async def signal_policy_page(self, req: PolicySignalPage) -> PolicySignalPageResult:
        details = activity.info().heartbeat_details
        progress = (
            PolicyProgress.model_validate(details[0])
            if details
            else PolicyProgress(after=req.after_workflow_id)
        )
        ids = _live_workflows(self._deps.engine, req.target, progress.after, req.limit)

        async def one(workflow_id: str) -> None:
            try:
                await self._client.get_workflow_handle(workflow_id).signal(req.signal, req.version)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # ended since the page was read
                    raise

        for start in range(0, len(ids), SIGNAL_CONCURRENCY):
            group = ids[start : start + SIGNAL_CONCURRENCY]
            await gather_bounded(group, one, SIGNAL_CONCURRENCY)
            progress.after, progress.signalled = group[-1], progress.signalled + len(group)
            activity.heartbeat(progress)
        full = len(ids) == req.limit  # a page this long may have a next one
        return PolicySignalPageResult(
            signalled=progress.signalled, next_after=ids[-1] if ids and full else None
        )


def _live_workflows(engine: Engine, target: Target, after: str | None, limit: int) -> list[str]:
    if target == "clients":
        table, live = clients, clients.c.status != ServiceStatus.CLOSED.value
    else:
        table, live = complaints, complaints.c.stage.in_([s.value for s in OPEN])
    query = select(table.c.workflow_id).where(live)
    if after is not None:
        query = query.where(table.c.workflow_id > after)
    with engine.connect() as conn:
        return list(conn.scalars(query.order_by(table.c.workflow_id).limit(limit)))
