"""How every projection activity writes its rows, and what it does when the database refuses them.

A refused value (`DataError`: a character, a number or a length the column cannot hold) is
refused again on every retry, so retrying it would keep the activity, and the workflow waiting on
it, busy for ever. It fails once instead, non-retryable, as a failure recorded in the workflow's
history. Its message and log line carry the activity, the error's class and SQLSTATE, never the
statement or its parameters (they can hold personal data); other database errors (a lost
connection, a serialization conflict) are retried as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from sqlalchemy.exc import DataError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from projections.registry import Write, apply_writes

REFUSED = "ProjectionRefused"
"""The `ApplicationError` type of a projection the database refused."""


def write_rows(deps: ActivityDeps, writes: Sequence[Write]) -> int:
    # Imported here: workflows import this module's names inside the sandbox, which would
    # otherwise load the OpenTelemetry SDK afresh for every workflow run.
    from infra.tracing import projection_span

    with projection_span([w.table.name for w in writes]) as span:
        try:
            with deps.engine.begin() as conn:
                written = apply_writes(conn, writes)
        except (DataError, psycopg.DataError) as err:
            raise refused(err) from None
        span.set_attribute("client_care.projection.rows", written)
        return written


def refused(err: DataError | psycopg.DataError) -> ApplicationError:
    cause = err.orig if isinstance(err, DataError) else err
    what = type(cause).__name__
    sqlstate = getattr(cause, "sqlstate", None) or "none"
    name = activity.info().activity_type
    activity.logger.error(
        "projection refused by the database, not retried",
        extra={"error": what, "sqlstate": sqlstate},
    )
    return ApplicationError(
        f"{name}: the database refused the rows ({what}, SQLSTATE {sqlstate}); not retried, "
        f"since the same rows would be refused again",
        type=REFUSED,
        non_retryable=True,
    )
