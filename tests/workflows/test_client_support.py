"""Shared pieces of the client-service tests: a worker with every client activity, client files
by tier, and readers of the projection rows. (No tests here; the name keeps it in the client
test family.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.client_events import ClientEventActivities
from activities.clients import ClientActivities
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from activities.policy import PolicyActivities
from activities.privacy import PrivacyActivities
from activities.tier_review import TierReviewActivities
from activities.tier_signals import TierSignalActivities
from commands.base import CommandContext
from domain.enums import Tier
from domain.policy import Policy
from infra.deployment import versioned_worker
from infra.keys import KeyRing
from infra.temporal import data_converter, register_search_attributes
from projections.crypto import FieldCipher
from projections.tables import notifications, service_tasks
from tests.helpers.clock import time_skipping_server
from workflows import search_attributes
from workflows.client_events import ClientEventWorkflow
from workflows.client_service import ClientServiceWorkflow
from workflows.tier_review import TierReviewWorkflow

# Answers scoring 10+3+6+4+7+7+6+7+5+7 = 62 points: C4, aggressive.
ANSWERS_C4 = [1, 1, 2, 1, 2, 2, 2, 2, 2, 2]


@asynccontextmanager
async def private_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of a module's own, for tests that skip years: the session's
    `ts_env` clock is shared, and years skipped there would move every later test's "now"
    (and calendar expectations would depend on what ran before)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        test_server_existing_path=time_skipping_server(),
    )
    await register_search_attributes(env.client, search_attributes.ALL)
    yield env
    await env.shutdown()


@asynccontextmanager
async def client_worker(
    client: Client,
    engine: Engine,
    keyring: KeyRing,
    *,
    ends: Iterable[str] = (),
    replace: Iterable[Callable[..., Any]] = (),
) -> AsyncIterator[str]:
    """A worker on a fresh task queue with every workflow and activity of the client service.

    `replace` holds activities that stand in for the real ones of the same name (a projection
    held up, a gateway failing), to provoke what a slow or broken dependency does.

    The workflows named in `ends` are terminated before the worker stops: on the shared
    time-skipping server, a timer firing for a workflow nobody polls for leaves a workflow task
    pending, and a pending task stops the clock for every later test.
    """
    queue = f"clients-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    notify = NotificationActivities(deps)
    clients, tiers = ClientActivities(deps), TierReviewActivities(deps)
    events = ClientEventActivities(deps, notify)
    standins = {activity_name(fn): fn for fn in replace}
    real: list[Callable[..., Any]] = [
        notify.notify,
        clients.project_client_service,
        clients.load_holiday_table,
        tiers.evaluate_tier_page,
        tiers.project_tier_decisions,
        TierSignalActivities(client).signal_tier_changes,
        events.invite_page,
        events.invitation_statuses,
        events.still_invited_page,
        events.project_client_event,
        PrivacyActivities(deps).erase_client_personal_data,
        PolicyActivities(deps, client).policy_in_force,
    ]
    activities = [standins.pop(activity_name(fn), fn) for fn in real]
    assert not standins, f"no such activity to replace: {sorted(standins)}"
    with ThreadPoolExecutor(max_workers=16) as pool:
        async with versioned_worker(
            client,
            task_queue=queue,
            workflows=[ClientServiceWorkflow, TierReviewWorkflow, ClientEventWorkflow],
            activities=activities,
            activity_executor=pool,
        ):
            try:
                yield queue
            finally:
                for workflow_id in ends:
                    await end_workflow(client, workflow_id)


def activity_name(fn: Callable[..., Any]) -> str:
    defn = activity._Definition.must_from_callable(fn)
    assert defn.name is not None
    return defn.name


async def end_workflow(client: Client, workflow_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).terminate("test over")
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:  # not started, or already closed
            raise


def ctx(client: Client, queue: str, policy: Policy | None = None) -> CommandContext:
    return CommandContext(client=client, policy=policy or Policy(), task_queue=queue)


def metrics_for(tier: Tier, policy: Policy | None = None) -> dict[str, Any]:
    """Exactly the tier's minimums (regular: nothing), as an onboarding body carries them."""
    threshold = (policy or Policy()).tiers.threshold(tier)
    if threshold is None:
        return {"aum": "1000", "annual_contribution": "10", "transactions_12m": 0}
    return {
        "aum": str(threshold.aum),
        "annual_contribution": str(threshold.annual_contribution),
        "transactions_12m": threshold.transactions_12m,
    }


def client_body(
    client_id: str,
    tier: Tier = Tier.REGULAR,
    *,
    birth_date: date | None = None,
    care: bool = False,
    answers: list[int] | None = ANSWERS_C4,
    **extra: Any,
) -> dict[str, Any]:
    """An onboarding body; `care` grants SMS greetings, service contact is always granted."""
    purposes = ["service", "events", "complaint"] + (["care"] if care else [])
    body: dict[str, Any] = {
        "client_id": client_id,
        "kind": "individual",
        "basic": {
            "name": "Test Client",
            "gender": "female",
            "birth_date": birth_date.isoformat() if birth_date else None,
            "phone": "13800138000",
            "email": f"{client_id}@example.com",
        },
        "financial": {"assets": [{"asset_class": "funds", "amount": "600000"}]},
        "metrics": metrics_for(tier),
        "advisor_id": "adv-07",
        "consents": {"granted": {"sms": purposes}},
        "risk_answers": answers,
    }
    body.update(extra)
    return body


def tasks(engine: Engine, client_id: str, kind: str | None = None) -> list[Any]:
    query = select(service_tasks).where(service_tasks.c.client_id == client_id)
    if kind is not None:
        query = query.where(service_tasks.c.kind == kind)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(service_tasks.c.due_at)))


def outbox(engine: Engine, client_id: str, recipient_kind: str | None = None) -> list[Any]:
    query = select(notifications).where(notifications.c.client_id == client_id)
    if recipient_kind is not None:
        query = query.where(notifications.c.recipient_kind == recipient_kind)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(notifications.c.notification_id)))


async def run_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow chain, oldest first, following continue-as-new backwards."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        if not run_id:
            return histories[::-1]


def in_days(instant: datetime, days: float) -> datetime:
    return instant + timedelta(days=days)


MONEY_ZERO = Decimal(0)
