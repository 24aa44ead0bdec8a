"""How the complaint commands read bodies and answer: states, refusals, timeouts.

Validation errors name fields and rules, never the rejected input (it may be personal data).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from commands.base import CommandContext, CommandError
from domain.complaint_state import Complaint
from domain.identifiers import Ref
from domain.refusals import field_problems
from domain.regulatory import regulatory_category, reportable
from workflows.complaint_models import complaint_workflow_id

M = TypeVar("M", bound=BaseModel)

ANSWER_WITHIN = timedelta(minutes=2)
"""How long a command waits for a workflow's answer before it reports the service unavailable:
longer than a worker crash takes to recover (workflow-task timeout, then activity timeouts), so a
restart delays an answer but never loses it."""
ACKNOWLEDGEMENT_WITHIN = timedelta(seconds=20)
"""How long `open` waits for the acknowledgement before answering with the receipt (in intake)."""


class _Id(BaseModel):
    complaint_id: Ref


def parse(model: type[M], body: dict[str, Any] | None, what: str) -> M:
    try:
        return model.model_validate(body or {})
    except ValidationError as err:
        raise CommandError(f"invalid {what}: {field_problems(err)}", code="invalid") from None


def complaint_id_of(value: str | None) -> str:
    if not value:
        raise CommandError("a complaint id is required", code="invalid")
    return parse(_Id, {"complaint_id": value}, "complaint id").complaint_id


def answer(state: Complaint, **extra: Any) -> dict[str, Any]:
    category = None if state.category is None else state.category.value
    return {
        "workflow_id": complaint_workflow_id(state.complaint_id),
        **state.model_dump(mode="json"),
        # derived, not recorded: the regulator's taxonomy can be re-mapped without a history
        "regulatory_category": regulatory_category(category).value,
        "reportable": reportable(category, state.stage.value),
        **extra,
    }


def unanswered(complaint_id: str) -> CommandError:
    return CommandError(
        f"complaint {complaint_id} did not answer within {ANSWER_WITHIN.seconds}s (is a worker "
        f"running?); the command may still take effect: check with `complaint show`, or send "
        f"it again with the same --request-id, which cannot apply it twice",
        code="unavailable",
    )


def refusal(err: WorkflowUpdateFailedError) -> CommandError:
    cause = err.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    return CommandError(message, code="rejected")


async def exists(ctx: CommandContext, complaint_id: str) -> bool:
    try:
        await ctx.client.get_workflow_handle(complaint_workflow_id(complaint_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def gone(ctx: CommandContext, complaint_id: str) -> CommandError:
    """Why a complaint workflow took no command: it never existed, or it has ended."""
    if not await exists(ctx, complaint_id):
        return CommandError(f"no complaint with id {complaint_id}", code="not_found")
    return CommandError(f"complaint {complaint_id} has ended and takes no more commands")
