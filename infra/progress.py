"""Progress for long-running commands: a rich bar on a terminal, one summary line otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(title: str, total: int | None) -> Iterator[Callable[..., None]]:
    """Yields `advance(n=1)`. Writes to stderr so stdout stays machine-readable JSON."""
    started = time.monotonic()
    done = 0
    if not sys.stderr.isatty():

        def count(n: int = 1) -> None:
            nonlocal done
            done += n

        yield count
        print(f"{title}: {done} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(title, total=total)
        yield lambda n=1: bar.advance(task, n)
