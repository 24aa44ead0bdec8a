"""Every `starter.py <noun> <verb>`: the contract's nouns first, then the service's own."""

from __future__ import annotations

from commands import (
    client_import,
    clients,
    complaints,
    demo,
    demo_year,
    events,
    improvements,
    notifications,
    policy,
    privacy,
    report,
    searches,
    subject_requests,
)
from commands.base import Command

NOUNS: dict[str, dict[str, Command]] = {
    "client": {**clients.COMMANDS, "erase": privacy.erase, "import": client_import.run},
    "complaint": complaints.COMMANDS,
    "event": events.COMMANDS,
    "improvement": improvements.COMMANDS,
    "notification": notifications.COMMANDS,
    "report": report.COMMANDS,
    "search": searches.COMMANDS,
    "demo": {"load": demo.load, "year": demo_year.year},
    "policy": policy.COMMANDS,
    "privacy": subject_requests.COMMANDS,
}

# Commands that start workflows: the starter resolves the published policy version for them.
STARTS_WORKFLOWS: frozenset[tuple[str, str]] = frozenset(
    {("client", "onboard"), ("client", "import"), ("complaint", "open"), ("privacy", "request")}
)

# Commands that answer from the policy or PostgreSQL alone, without a Temporal connection.
OFFLINE: frozenset[tuple[str, str]] = frozenset(
    {("client", "questionnaire"), ("report", "build"), ("report", "regulator")}
    | {("demo", "year"), ("policy", "list"), ("policy", "show")}
    | {("improvement", verb) for verb in improvements.COMMANDS}
    | {("notification", verb) for verb in notifications.COMMANDS}
)


def needs_temporal(noun: str, verb: str) -> bool:
    return (noun, verb) not in OFFLINE
