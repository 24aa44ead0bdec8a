"""What every command gets, and how a refusal is reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from domain.policy import Policy


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


Command = Callable[[CommandContext, str | None, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(context, ID from the command line or None, JSON body) -> the JSON object to print."""
