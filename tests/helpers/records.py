"""Read-model records as a projection test writes them directly, without a workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from activities.clients import ClientRecord
from domain.client import ClientFile
from domain.enums import ServiceStatus, Tier


def client_record(file: ClientFile, at: datetime, **changes: Any) -> ClientRecord:
    """A client just onboarded at `at`: gold, active, nothing due, nothing missing; `changes`
    set any other field."""
    fields: dict[str, Any] = {
        "file": file,
        "tier": Tier.GOLD,
        "risk": None,
        "risk_assessed_at": None,
        "status": ServiceStatus.ACTIVE,
        "next_service_due": None,
        "next_service_kind": None,
        "segment": None,
        "missing_fields": [],
        "onboarded_at": at,
    }
    return ClientRecord(**(fields | changes))
