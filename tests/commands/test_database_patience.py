"""A command's own use of the read models' database waits out an outage, then says so."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from commands.base import CommandContext, CommandError, in_database
from domain.policy import Policy


def _ctx(patience: float) -> CommandContext:
    return CommandContext(client=None, policy=Policy(), db_patience=patience)  # type: ignore[arg-type]


class Flaky:
    """Refuses the connection `failures` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("connect", {}, ConnectionRefusedError("refused"))
        return value


async def test_an_outage_shorter_than_the_patience_delays_the_command() -> None:
    work = Flaky(failures=3)
    assert await in_database(_ctx(30), work, "sealed") == "sealed"
    assert work.calls == 4


async def test_an_outage_longer_than_the_patience_is_unavailable() -> None:
    work = Flaky(failures=10_000)
    with pytest.raises(CommandError) as refused:
        await in_database(_ctx(0.5), work, "sealed")
    assert refused.value.code == "unavailable"  # exit 3, as Temporal out of reach
    assert "database is unavailable" in refused.value.message
    assert 1 < work.calls < 10


async def test_other_errors_are_not_retried() -> None:
    calls: list[Any] = []

    def refuse() -> None:
        calls.append(1)
        raise CommandError("client onboard: erased", "rejected")

    with pytest.raises(CommandError) as refused:
        await in_database(_ctx(30), refuse)
    assert refused.value.code == "rejected" and len(calls) == 1
