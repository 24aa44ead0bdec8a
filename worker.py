"""The worker: every workflow and activity on the `client-care` task queue, as one version of the
`client-care` worker deployment (infra/deployment.py).

SIGTERM or SIGINT stops polling, lets running activities finish (graceful timeout), then exits.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.runtime import Runtime
from temporalio.worker import PollerBehaviorAutoscaling

from activities.delivery import build_dispatcher, checked_catalogue
from activities.deps import ActivityDeps
from activities.messages import TemplateError
from activities.registry import build_activities
from domain.policy import Policy
from infra.codec import PlaintextAlarm
from infra.database import database_url, make_engine
from infra.deployment import Claim, NotRoutable, VersionedWorker, versioned_worker, worker_version
from infra.keys import KeyRingError, load_keyring
from infra.logging import configure_logging, core_runtime, get_logger
from infra.metrics import ServiceMetrics, prometheus
from infra.policy_file import PolicyFileError, policy_from_settings
from infra.settings import Settings, SettingsError, load_settings
from infra.temporal import connect
from infra.tracing import TracingSettingsError, tracing
from projections.crypto import FieldCipher
from workflows.metering import RefusalCounter
from workflows.registry import ALL_WORKFLOWS

log = get_logger("worker")


@dataclass(frozen=True)
class Tuning:
    """What a worker holds and runs at once (settings `WORKER_*`; README "Sizing a worker").
    The activity slots are the executor's size, so the two cannot disagree."""

    cached_workflows: int = 2000
    workflow_task_slots: int = 4
    max_pollers: int = 5

    @classmethod
    def of(cls, settings: Settings) -> Tuning:
        return cls(
            cached_workflows=settings.worker_cached_workflows,
            workflow_task_slots=settings.worker_workflow_task_slots,
            max_pollers=settings.worker_max_pollers,
        )


def build_worker(
    client: Client,
    task_queue: str,
    deps: ActivityDeps,
    executor: ThreadPoolExecutor,
    on_queued: Callable[[], None] | None = None,
    *,
    version: WorkerDeploymentVersion | None = None,
    workflows: list[type] = ALL_WORKFLOWS,
    claim: Claim = "if-none",
    tuning: Tuning = Tuning(),
    activity_slots: int | None = None,
) -> VersionedWorker:
    """`version` unset: this code's (infra.deployment.worker_version). `workflows`: a test's
    variant of the code, registered under the same type names. `activity_slots`: the size
    `executor` was made with (the SDK needs it; an executor does not say)."""
    pollers = PollerBehaviorAutoscaling(minimum=1, maximum=tuning.max_pollers, initial=2)
    return versioned_worker(
        client,
        version=version,
        claim=claim,
        task_queue=task_queue,
        workflows=workflows,
        activities=build_activities(deps, client, on_queued),
        activity_executor=executor,
        max_concurrent_activities=activity_slots or executor._max_workers,
        max_cached_workflows=tuning.cached_workflows,
        max_concurrent_workflow_tasks=tuning.workflow_task_slots,
        workflow_task_poller_behavior=pollers,
        activity_task_poller_behavior=pollers,
        graceful_shutdown_timeout=timedelta(seconds=20),
        interceptors=[RefusalCounter()],
    )


def served_queues(settings: Settings) -> list[str]:
    """The task queues this worker polls (`TEMPORAL_COMPLAINT_TASK_QUEUE`, `WORKER_SERVES`)."""
    service, complaints = settings.temporal_task_queue, settings.temporal_complaint_task_queue
    if complaints is None or complaints == service:
        if settings.worker_serves == "complaints":
            raise SettingsError(
                "WORKER_SERVES=complaints needs TEMPORAL_COMPLAINT_TASK_QUEUE, a queue other "
                "than TEMPORAL_TASK_QUEUE"
            )
        return [service]
    return {"all": [complaints, service], "service": [service], "complaints": [complaints]}[
        settings.worker_serves
    ]


async def ensure_schedules(client: Client, task_queue: str, policy: Policy) -> None:
    """The tier review and KPI report schedules; creating them again is harmless."""
    from commands.schedules import ensure_all_schedules

    await ensure_all_schedules(client, task_queue, policy)


async def main(settings: Settings) -> int:
    try:
        policy = policy_from_settings(settings)
        keyring = load_keyring(settings)
        catalogue = checked_catalogue(settings, policy)
        queues = served_queues(settings)
    except (PolicyFileError, KeyRingError, TemplateError, SettingsError) as exc:
        log.error("worker cannot start", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(database_url(settings))
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    client = await connect(settings, keyring, PlaintextAlarm(Runtime.default().metric_meter))
    await ensure_schedules(client, settings.temporal_task_queue, policy)
    version = worker_version(settings)
    slots = settings.worker_activity_slots
    with ExitStack() as pools:
        dispatcher = build_dispatcher(settings, deps, catalogue, policy)
        # Each queue gets a worker with slots and activity threads of its own: complaint tasks
        # never wait for a slot or a thread a greeting holds. Only the last one entered claims
        # routing, once every queue polls (a deployment's new version must serve every queue
        # the current one does).
        workers = [
            build_worker(
                client,
                queue,
                deps,
                pools.enter_context(
                    ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"activity-{i}")
                ),
                dispatcher.notify_queued,
                version=version,
                claim=settings.temporal_worker_set_current if i == len(queues) - 1 else "never",
                tuning=Tuning.of(settings),
                activity_slots=slots,
            )
            for i, queue in enumerate(queues)
        ]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with AsyncExitStack() as entered:
                for worker in workers:
                    await entered.enter_async_context(worker)
                # "started" is said once new work can reach this worker (tests and the dev
                # stack wait for it)
                log.info(
                    "worker started",
                    task_queue=",".join(queues),
                    deployment_version=version.to_canonical_string(),
                    status="made current" if workers[-1].claimed else "routing unchanged",
                )
                collecting = (
                    asyncio.create_task(
                        ServiceMetrics(Runtime.default().metric_meter, engine).run()
                    )
                    if settings.metrics_bind_address
                    else None
                )
                delivering = asyncio.create_task(
                    dispatcher.run(stop, poll_interval=settings.delivery_poll_interval)
                )
                await stop.wait()
                await delivering
                log.info("worker stopping: finishing running activities")
                if collecting:
                    collecting.cancel()
        except NotRoutable as exc:  # raised only on entering: nothing ran yet
            log.error("worker cannot start", error=str(exc))
            engine.dispose()
            return 3
    engine.dispose()
    log.info("worker stopped")
    return 0


def run() -> int:
    configure_logging()
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bind = settings.metrics_bind_address
    try:
        # traces when an OTLP endpoint is set: the client `connect` makes, and so the worker,
        # carries the SDK's tracing interceptor (docs/operations.md)
        with (
            core_runtime(metrics=prometheus(bind) if bind else None),
            tracing(settings, "client-care-worker"),
        ):
            return asyncio.run(main(settings))
    except TracingSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
