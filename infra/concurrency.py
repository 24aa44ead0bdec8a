"""Bounded fan-out: many awaits, only so many in flight at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def gather_bounded(
    items: Iterable[T], each: Callable[[T], Awaitable[R]], limit: int
) -> list[R]:
    """`each(item)` for every item, at most `limit` running at a time; results in item order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await each(item)

    return list(await asyncio.gather(*(one(item) for item in items)))
