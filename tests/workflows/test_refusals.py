"""One mechanism for every workflow: each update handler of each registered workflow is wrapped
in `workflows.refusals.refusing`, so a rule that refuses in a handler answers that update and
never fails a workflow task (the per-workflow tests provoke it; this one holds the coverage)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator
from temporalio.exceptions import ApplicationError
from temporalio.workflow import _Definition

from domain.complaint import ComplaintRuleError
from workflows.refusals import REFUSING, refusal
from workflows.registry import ALL_WORKFLOWS


def test_every_update_handler_of_every_workflow_is_refusing() -> None:
    bare = [
        f"{defn.name}.{name}"
        for defn in (_Definition.must_from_class(cls) for cls in ALL_WORKFLOWS)
        for name, update in defn.updates.items()
        if not getattr(update.fn, REFUSING, False)
    ]
    assert bare == []


class _Phone(BaseModel):
    phone: str

    @field_validator("phone")
    @classmethod
    def _digits(cls, value: str) -> str:
        raise ValueError("phone must be digits")


def test_a_refusal_names_fields_and_rules_never_values() -> None:
    try:
        _Phone(phone="13800138000x")
    except ValueError as err:
        refused = refusal(err, "update")
    assert isinstance(refused, ApplicationError) and refused.non_retryable
    assert refused.message == "update: phone: Value error, phone must be digits"
    assert "13800138000" not in refused.message
    rule = refusal(ComplaintRuleError("cannot assess: complaint k-1 is closed"))
    assert (rule.type, rule.message) == (
        "ComplaintRuleError",
        "cannot assess: complaint k-1 is closed",
    )
