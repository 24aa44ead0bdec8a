"""How a domain rule's refusal leaves any workflow: as an `ApplicationError`, and only so.

The domain refuses with `ValueError` (`ComplaintRuleError`, pydantic's `ValidationError` and the
models' own validators all are one). Validators refuse before anything is recorded; but when the
state moves between an update's validator and its handler (a concurrent command, a handler
waiting for its turn), the handler's own run of the rule can refuse too. Anything other than an
`ApplicationError` escaping a handler fails the workflow task, which is retried forever and
stalls every timer and command of that workflow. So every update handler of every workflow is
wrapped in `refusing`, which answers that one update with the refusal instead; handlers compute
before they change state, so a refused one has changed nothing. A timer path has nobody to
answer: it logs `refusal(...)` and skips what was refused (see `ComplaintWorkflow._fire`).

Why not `failure_exception_types` on the workflow definitions: it applies to the run method as
well, where a `ValueError` would then fail, for good, a workflow that serves a client for
decades; and the update's failure would carry pydantic's own text, which echoes input values
(personal data), where `field_problems` names fields and rules only. A bug that is not a rule's
refusal (a `TypeError`, say) is still left to fail the task: that one a fixed deploy recovers
from, since the task is retried on the new code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from domain.refusals import field_problems

REFUSING = "__refusing__"
"""Set on every wrapped handler: tests/workflows/test_refusals.py checks each update has it."""

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


def describe(err: ValueError, whole: str = "file") -> str:
    """A refusal's text: each bad field and its rule, or the rule's own message."""
    return field_problems(err, whole) if isinstance(err, ValidationError) else str(err)


def refusal(err: ValueError, verb: str = "", type: str | None = None) -> ApplicationError:
    text = describe(err)
    return ApplicationError(
        f"{verb}: {text}" if verb else text,
        type=type or ("InvalidInput" if isinstance(err, ValidationError) else type_name(err)),
        non_retryable=True,
    )


def type_name(err: Exception) -> str:
    return err.__class__.__name__


def refusing(
    verb: str = "",
) -> Callable[
    [Callable[Concatenate[S, P], Coroutine[Any, Any, R]]],
    Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
]:
    """Wraps an update handler (under `@workflow.update`): a rule's refusal answers the update."""

    def wrap(
        handler: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
        @functools.wraps(handler)
        async def guarded(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await handler(self, *args, **kwargs)
            except ValueError as err:
                raise refusal(err, verb) from None

        setattr(guarded, REFUSING, True)
        return guarded

    return wrap
