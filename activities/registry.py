"""Every activity the worker serves, built from one set of injected dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from activities.client_events import ClientEventActivities
from activities.clients import ClientActivities
from activities.complaints import ComplaintActivities
from activities.deps import ActivityDeps
from activities.kpi import KpiActivities
from activities.notifications import NotificationActivities
from activities.policy import PolicyActivities
from activities.privacy import PrivacyActivities
from activities.subject_requests import SubjectRequestActivities
from activities.tier_review import TierReviewActivities
from activities.tier_signals import TierSignalActivities


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """The bound `@activity.defn` methods of one activities object."""
    return [
        getattr(instance, name)
        for name in dir(type(instance))
        if hasattr(getattr(type(instance), name), "__temporal_activity_definition")
    ]


def build_activities(
    deps: ActivityDeps, client: Client, on_queued: Callable[[], None] | None = None
) -> list[Callable[..., Any]]:
    """`on_queued` is called after a message is committed to the outbox (wakes the dispatcher)."""
    notifications = NotificationActivities(deps, on_queued)
    instances: list[object] = [
        notifications,
        ComplaintActivities(deps),
        ClientActivities(deps),
        ClientEventActivities(deps, notifications),
        TierReviewActivities(deps),
        TierSignalActivities(client),
        KpiActivities(deps),
        PrivacyActivities(deps),
        PolicyActivities(deps, client),
        SubjectRequestActivities(deps, client),
    ]
    return [method for instance in instances for method in activity_methods(instance)]
