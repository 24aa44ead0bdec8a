"""Progress for long-running commands: a rich bar on stderr when it is a terminal; otherwise
one summary line, or nothing (`summary=False`), so pipes, logs and CI stay quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Advance(Protocol):
    def __call__(self, n: int = 1, description: str | None = None) -> None: ...


@contextmanager
def progress_bar(
    title: str, total: int | None, *, summary: bool = True, transient: bool = False
) -> Iterator[Advance]:
    """Yields `advance(n=1, description=None)`; a description replaces the bar's title.
    Writes to stderr so stdout stays machine-readable JSON."""
    started = time.monotonic()
    done = 0
    if not sys.stderr.isatty():

        def count(n: int = 1, description: str | None = None) -> None:
            nonlocal done
            done += n

        yield count
        if summary:
            print(f"{title}: {done} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=transient) as bar:
        task = bar.add_task(title, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=n, **({"description": description} if description else {}))

        yield advance


def per_item(advance: Advance) -> Callable[[object], None]:
    """`advance` as a callback that takes the finished item (and ignores it)."""
    return lambda _item: advance()
