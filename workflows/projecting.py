"""Running a projection activity from a workflow, and what a refused one means for it.

The database refuses some rows for good (`activities.projection`: a value a column cannot hold);
that activity fails once, non-retryable, and the failure is recorded in the history. The
workflow's own state is the system of record and already holds the change, so the workflow goes
on: the command that caused it is answered, timers keep firing, and the read model stays behind
until a later projection of the same row succeeds (state rows are whole snapshots under a newer
`seq`). A warning with ids only says so in the log. Any other activity failure is raised as
before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import REFUSED


async def project(activity: Callable[..., Any], arg: Any, **options: Any) -> bool:
    """Runs `activity(arg)`; False when the database refused its rows."""
    try:
        await workflow.execute_activity_method(activity, arg, **options)
    except ActivityError as err:
        if not (isinstance(err.cause, ApplicationError) and err.cause.type == REFUSED):
            raise
        workflow.logger.warning(
            "read model refused a projection; it stays behind until the next one",
            extra={"seq": getattr(arg, "seq", None)},
        )
        return False
    return True
