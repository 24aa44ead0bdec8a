"""Worker Deployment Versioning: which version a worker is, the one way a worker is built, and
where new work goes.

Every worker of the service's workflows polls as one version of the deployment
`TEMPORAL_DEPLOYMENT_NAME` (`client-care`), identified by `TEMPORAL_WORKER_BUILD_ID` or, unset, by
a hash of the code that decides a workflow's commands (workflows/, domain/, activities/ and the
SDK version): two workers with that code are the same version, any change to it a new one. The
server routes a new workflow to the deployment's *current* version, or to the *ramping* one for a
share of them; a pinned workflow stays on the version it started on, an auto-upgrade one moves to
the current version at its next task (each type's `versioning_behavior` on `@workflow.defn`; the
README's "Deploying a change" says which is which and why).

A type that declares a behaviour can run only on versioned workers: the server refuses the task
completions of an unversioned one ("versioning behavior cannot be specified without deployment
options"), and a versioned worker gets no task until its version is current or ramping. So no
code path builds a plain `Worker` for these types: `versioned_worker` is the only constructor,
and entering it (`async with`) makes sure new work can reach it. `tests/test_worker_factory.py`
holds every `Worker(` in the repository to that.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any, Literal, TypeVar

import temporalio.api.deployment.v1 as deployment_pb
import temporalio.api.workflowservice.v1 as wsv1
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig

from infra.settings import ROOT, Settings

# The code whose change can change a workflow's command sequence.
VERSIONED_CODE = ("workflows", "domain", "activities")
IDENTITY = "client-care"
Claim = Literal["if-none", "always", "never"]


@lru_cache(maxsize=1)
def source_build_id() -> str:
    digest = hashlib.sha256(f"temporalio=={metadata.version('temporalio')}\n".encode())
    for folder in VERSIONED_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return f"src-{digest.hexdigest()[:16]}"


def worker_version(settings: Settings | None = None) -> WorkerDeploymentVersion:
    settings = settings or Settings()
    return WorkerDeploymentVersion(
        deployment_name=settings.temporal_deployment_name,
        build_id=settings.temporal_worker_build_id or source_build_id(),
    )


class DeploymentsUnsupported(Exception):
    """The server has no worker deployments (the time-skipping test server): it hands every task
    to any poller, versioned or not, so there is no routing to set."""


class NotRoutable(RuntimeError):
    """The server never listed this worker's version, so it could not be made current."""


# The server rate-limits calls per deployment (its own workflow serves them): back off and retry.
_BUSY = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE)
_T = TypeVar("_T")


async def _patiently(call: Callable[[], Awaitable[_T]]) -> _T:
    pause = 0.2
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNIMPLEMENTED:
                raise DeploymentsUnsupported(exc.message) from exc
            if exc.status not in _BUSY:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5)


@dataclass(frozen=True)
class Routing:
    current: str | None
    ramping: str | None
    ramping_percentage: float
    polled: frozenset[str]
    """Build ids the server has seen poll; only those can be routed to."""


async def routing(client: Client, deployment_name: str) -> Routing | None:
    """Where new workflows go now; None for a deployment no worker has polled as yet."""
    request = wsv1.DescribeWorkerDeploymentRequest(
        namespace=client.namespace, deployment_name=deployment_name
    )
    try:
        answer = await _patiently(
            lambda: client.workflow_service.describe_worker_deployment(request)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = answer.worker_deployment_info
    config = info.routing_config
    return Routing(
        current=config.current_deployment_version.build_id or None,
        ramping=config.ramping_deployment_version.build_id or None,
        ramping_percentage=config.ramping_version_percentage,
        polled=frozenset(v.deployment_version.build_id for v in info.version_summaries),
    )


async def _task_queues(
    client: Client, version: WorkerDeploymentVersion
) -> frozenset[tuple[str, int]]:
    """The (task queue, type) pairs the server has seen `version` poll."""
    request = wsv1.DescribeWorkerDeploymentVersionRequest(
        namespace=client.namespace,
        deployment_version=deployment_pb.WorkerDeploymentVersion(
            deployment_name=version.deployment_name, build_id=version.build_id
        ),
    )
    try:
        answer = await _patiently(
            lambda: client.workflow_service.describe_worker_deployment_version(request)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return frozenset()
        raise
    infos = answer.worker_deployment_version_info.task_queue_infos
    return frozenset((info.name, int(info.type)) for info in infos)


async def wait_until_polling(client: Client, version: WorkerDeploymentVersion) -> None:
    """Until the server has seen a worker of `version` poll: routing to it is refused before.
    Callers bound the wait (`asyncio.timeout`)."""
    while True:
        now = await routing(client, version.deployment_name)
        if now is not None and version.build_id in now.polled:
            return
        await asyncio.sleep(0.2)


async def wait_until_serving(client: Client, version: WorkerDeploymentVersion) -> None:
    """Until `version` polls every task queue, workflow and activity, that the current version
    polls. A version is listed at its first poller, and its workers' other pollers register a
    moment later; routing to it before then would leave the current version's work on a queue
    nobody of the new version serves (the server refuses it while that queue is busy, and lets it
    through while it is idle). Callers bound the wait (`asyncio.timeout`)."""
    await wait_until_polling(client, version)
    while True:
        now = await routing(client, version.deployment_name)
        if now is None or now.current is None or now.current == version.build_id:
            return
        current = WorkerDeploymentVersion(version.deployment_name, now.current)
        if await _task_queues(client, current) <= await _task_queues(client, version):
            return
        await asyncio.sleep(0.2)


async def set_current(client: Client, version: WorkerDeploymentVersion) -> None:
    """New workflows, and every auto-upgrade workflow at its next task, go to `version`."""
    await wait_until_serving(client, version)
    request = wsv1.SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
        identity=IDENTITY,
    )
    await _patiently(lambda: client.workflow_service.set_worker_deployment_current_version(request))


async def set_ramping(client: Client, version: WorkerDeploymentVersion, percentage: float) -> None:
    """`percentage` of new workflows (and of auto-upgrade ones) go to `version`, the rest to
    the current version; 0 stops the ramp."""
    await wait_until_serving(client, version)
    request = wsv1.SetWorkerDeploymentRampingVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
        percentage=percentage,
        identity=IDENTITY,
    )
    await _patiently(lambda: client.workflow_service.set_worker_deployment_ramping_version(request))


async def claim_current(client: Client, version: WorkerDeploymentVersion, claim: Claim) -> bool:
    """Route new work to `version`: `always`, or (`if-none`) only when the deployment has no
    current version yet, as on a new cluster. True when it did. Anything else is a rollout's
    decision (README, "Deploying a change")."""
    if claim == "never":
        return False
    try:
        await wait_until_polling(client, version)
        now = await routing(client, version.deployment_name)
        if now is not None and now.current == version.build_id:
            return False
        if claim == "if-none" and now is not None and now.current is not None:
            return False
        await set_current(client, version)
    except DeploymentsUnsupported:
        return False
    return True


class VersionedWorker(Worker):
    """A `Worker` that polls as `version` and, once started, makes sure new work can reach it
    (`claim`, as `claim_current`; within `claim_within` seconds, else `NotRoutable`)."""

    def __init__(
        self,
        client: Client,
        *,
        version: WorkerDeploymentVersion,
        claim: Claim = "if-none",
        claim_within: float = 60,
        **options: Any,
    ) -> None:
        super().__init__(
            client,
            deployment_config=WorkerDeploymentConfig(version=version, use_worker_versioning=True),
            **options,
        )
        self.version = version
        self.claimed = False
        self._routing_client = client
        self._claim: Claim = claim
        self._claim_within = claim_within

    async def __aenter__(self) -> VersionedWorker:
        await super().__aenter__()
        try:
            async with asyncio.timeout(self._claim_within):
                self.claimed = await claim_current(self._routing_client, self.version, self._claim)
        except BaseException as exc:
            await super().__aexit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, TimeoutError):
                raise NotRoutable(
                    f"the server never listed version {self.version.to_canonical_string()}"
                ) from exc
            raise
        return self


def versioned_worker(
    client: Client,
    *,
    version: WorkerDeploymentVersion | None = None,
    claim: Claim = "if-none",
    **options: Any,
) -> VersionedWorker:
    """The only way a worker of the service's workflows is built (worker.py, tests, the
    simulation, benches): `options` as for `temporalio.worker.Worker`; `version` unset, this
    code's version under the settings (`worker_version`)."""
    return VersionedWorker(client, version=version or worker_version(), claim=claim, **options)


# The server's dynamic config for Worker Deployment Versioning. Server 1.32 (the dev stack's and
# compose's) has both on by default; they are set anyway, so that a server whose defaults differ
# says so at start rather than routing no task to a versioned worker. deploy/temporal/
# dynamicconfig.yaml holds the same for compose (tests/test_deployment.py compares them).
SERVER_DYNAMIC_CONFIG = {
    "system.enableDeploymentVersions": True,
    "frontend.workerVersioningWorkflowAPIs": True,
}


def dev_server_flags() -> list[str]:
    """`--dynamic-config-value` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key, value in SERVER_DYNAMIC_CONFIG.items():
        flags += ["--dynamic-config-value", f"{key}={str(value).lower()}"]
    return flags
