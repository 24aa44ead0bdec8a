"""`starter.py policy <verb>`: publish a policy version and see which are published.

`publish FILE` validates FILE exactly as the worker does at start (`infra.policy_file`), stores
it as a version (`--json '{"version": "2027-01", "effective_from": "2027-01-01",
"published_by": "ops-1"}'`, all optional: the version id defaults to the policy's digest, the
effective instant to now, a bare date to local midnight in the policy's zone) and starts the
rollout that tells every live client and complaint workflow (`workflows.policy_rollout`).
Publishing the same version again is harmless (the rollout is not started twice); the same id
with another policy is refused. `list` shows every version and which is in force; `show VERSION`
prints one, policy included.

Commands that start workflows (`client onboard`, `client import`, `complaint open`) start them
under the version in force (and tell them of one pending): `resolve`, called by the starter.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.policy import PolicyVersionConflict, as_version, stored_rows, versions
from activities.policy import publish as store
from commands.base import CommandContext, CommandError, engine_for
from domain.identifiers import Key, Ref
from domain.policy import Policy
from domain.policy_versions import (
    PolicyInForce,
    PolicyVersion,
    in_force,
    policy_digest,
)
from domain.refusals import field_problems
from infra.policy_file import PolicyFileError, load_policy
from workflows.policy_rollout import PolicyRolloutWorkflow, RolloutInput, rollout_workflow_id


class PublishOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Key | None = None
    effective_from: date | datetime | None = None  # a bare date first: local midnight
    published_by: Ref = "starter"


def resolve(engine: Engine, file_policy: Policy, now: datetime) -> tuple[Policy, PolicyInForce]:
    """The policy new workflows start under: the version in force (else the file's), and the
    latest version published for later, which they are told of as the rollout would."""
    published = versions(engine)
    current = in_force(published, now)
    later = [v for v in published if v.effective_from > now]
    state = PolicyInForce(version_id=current.version_id if current else None)
    if later:
        state.told(max(later, key=lambda v: v.effective_from))
    return (current.policy if current else file_policy), state


async def publish(ctx: CommandContext, path: str | None, body: dict[str, Any]) -> dict[str, Any]:
    if not path:
        raise CommandError("policy publish: give the policy file: policy publish FILE", "usage")
    if "\x00" in path or len(path) > 4096:
        raise CommandError("policy publish: FILE is not a file path", "usage")
    try:
        opts = PublishOptions.model_validate(body)
        policy = load_policy(Path(path))
    except ValidationError as err:
        raise CommandError(f"policy publish: {field_problems(err)}", "invalid") from None
    except PolicyFileError as err:
        raise CommandError(f"policy publish: {err}", "invalid") from None
    now = datetime.now(UTC)
    version = PolicyVersion(
        version_id=opts.version or f"p-{policy_digest(policy)[:12]}",
        effective_from=_instant(opts.effective_from, policy) or now,
        policy=policy,
    )
    try:
        added = await asyncio.to_thread(store, engine_for(ctx), version, opts.published_by, now)
    except PolicyVersionConflict as err:
        raise CommandError(f"policy publish: {err}", "conflict") from None
    rollout = rollout_workflow_id(version.version_id)
    try:
        await ctx.client.start_workflow(
            PolicyRolloutWorkflow.run,
            RolloutInput(version=version),
            id=rollout,
            task_queue=ctx.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"policy version {version.version_id} to every live workflow",
        )
        started = True
    except WorkflowAlreadyStartedError:
        started = False  # published before: its rollout runs or ran
    return {
        "version_id": version.version_id,
        "effective_from": version.effective_from.isoformat(),
        "digest": version.digest,
        "stored": added,
        "rollout_workflow_id": rollout,
        "rollout_started": started,
    }


async def list_versions(
    ctx: CommandContext, _id: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    rows = await asyncio.to_thread(stored_rows, engine_for(ctx))
    current = in_force([as_version(r) for r in rows], datetime.now(UTC))
    return {
        "versions": [
            _facts(r) | {"in_force": current is not None and r["version_id"] == current.version_id}
            for r in rows
        ]
    }


async def show(ctx: CommandContext, version_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    if not version_id:
        raise CommandError("policy show: give the version: policy show VERSION", "usage")
    rows = await asyncio.to_thread(stored_rows, engine_for(ctx))
    row = next((r for r in rows if r["version_id"] == version_id), None)
    if row is None:
        raise CommandError(f"policy show: no policy version {version_id}", "not_found")
    return _facts(row) | {"policy": row["policy"]}


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    """What `list` and `show` both say of a version."""
    return {
        "version_id": row["version_id"],
        "effective_from": row["effective_from"].isoformat(),
        "digest": row["digest"],
        "published_at": row["published_at"].isoformat(),
        "published_by": row["published_by"],
    }


def _instant(value: datetime | date | None, policy: Policy) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CommandError("policy publish: effective_from needs a time zone offset", "invalid")
        return value
    return datetime.combine(value, time(0), tzinfo=policy.zone())


COMMANDS = {"publish": publish, "list": list_versions, "show": show}
