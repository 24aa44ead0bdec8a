"""The driver gives up loudly, naming the action by ids only, when a command never answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from simulation import year
from simulation.year import SimulationStuckError


async def test_a_command_without_an_answer_stops_the_year_naming_only_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(year, "STUCK_AFTER", timedelta(milliseconds=50))

    async def never() -> None:
        await asyncio.Event().wait()

    at = datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(SimulationStuckError) as err:
        await year._within(never, "complaint follow-up year-p-0251", at)
    assert "complaint follow-up year-p-0251 at 2027-03-01" in str(err.value)

    async def quick() -> None:
        await asyncio.sleep(0)

    await year._within(quick, "advisors' round", at)  # answered in time: nothing raised
