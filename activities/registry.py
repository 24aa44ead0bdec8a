"""Every activity the worker serves, built from one set of injected dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities, Sender


def build_activities(deps: ActivityDeps, sender: Sender | None = None) -> list[Callable[..., Any]]:
    notifications = NotificationActivities(deps, sender)
    return [notifications.notify]
