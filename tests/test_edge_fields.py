"""Every string a caller can send follows one of the two rules: free text (`domain.text`) or an
identifier (`domain.identifiers`). Found by walking the models every workflow takes as its input,
updates and signals, and the bodies of the commands that bypass workflows; a new plain `str`
field on any of them fails here until it is given a rule (or listed below, with why not)."""

from __future__ import annotations

import inspect
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import AfterValidator, BaseModel
from temporalio import workflow

from activities.privacy import EraseRequest
from activities.tier_review import TierChangeSignal
from commands.complaint_open import OpenComplaint
from commands.improvements import MeasureFilter, NewMeasure
from domain import identifiers
from domain.client_service import ServiceState
from domain.policy import Policy
from domain.sealed import Sealable
from domain.text import FreeText
from workflows.client_events import EventCarry
from workflows.registry import ALL_WORKFLOWS
from workflows.tier_review import TierReviewInput

COMMAND_BODIES: list[type[BaseModel]] = [OpenComplaint, NewMeasure, MeasureFilter, EraseRequest]

# Models no caller writes: not walked into.
NOT_FROM_CALLERS: dict[type[BaseModel], str] = {
    Policy: "the firm's policy file, validated by infra.policy_file when loaded",
    ServiceState: "the client workflow's own state, carried across continue-as-new",
    EventCarry: "the event workflow's own counts and cursor, carried across continue-as-new",
    TierChangeSignal: "sent by the tier review's activity, from the review's own figures",
    TierReviewInput: "started by the schedule, continued as new by the review itself",
}
# Plain strings that stay plain, and why.
NOT_CALLER_TEXT = {
    # Run inputs built by the commands from ids they have checked; typed here, a value that
    # failed to decode would stall the workflow task instead of being refused.
    "ClientServiceInput.client_id",
    "ComplaintInput.matter_workflow_id",
    "MatterInput.matter_key",
    "MatterInput.owner",
    "RolloutInput.after_workflow_id",  # read from the read models by the rollout itself
    "RolloutInput.signalled{key}",
    # Checked in KpiReportInput.resolve (a refused period fails the run, saying why); the
    # qualitative keys only look scorecards up and are stored nowhere.
    "KpiReportInput.period",
    "KpiReportInput.qualitative{key}",
    # Held to MM-DD, a real day of the year, by BasicInfo's own validator (the greetings' day).
    "BasicInfo.birth_month_day",
}


def _ruled(meta: object) -> bool:
    return isinstance(meta, FreeText) or (
        isinstance(meta, AfterValidator)
        and meta.func in (identifiers.opaque, identifiers.safe_identifier)
    )


def plain_strings(tp: Any, path: str, seen: set[type], out: set[str]) -> None:
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        # a sealable non-text value (`date | str`): its string is a sealed token or refused
        if any(isinstance(m, Sealable) and m.plain not in (None, str) for m in meta):
            return
        if base is str:
            if not any(_ruled(m) for m in meta):
                out.add(path)
            return
        plain_strings(base, path, seen, out)
    elif tp is str or tp is Any:
        out.add(path)
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset):
        for arg in get_args(tp):
            if arg is not Ellipsis:
                plain_strings(
                    arg, path + ("[]" if origin not in (Union, types.UnionType) else ""), seen, out
                )
    elif origin is dict:
        key, value = get_args(tp)
        plain_strings(key, path + "{key}", seen, out)
        plain_strings(value, path + "{}", seen, out)
    elif origin is Literal:
        return
    elif inspect.isclass(tp) and issubclass(tp, BaseModel) and tp not in seen:
        seen.add(tp)
        if tp in NOT_FROM_CALLERS:
            return
        for name, field in tp.model_fields.items():
            annotation = (
                Annotated[(field.annotation, *field.metadata)]
                if field.metadata
                else field.annotation
            )
            plain_strings(annotation, f"{tp.__name__}.{name}", seen, out)


def edge_types() -> list[Any]:
    found: list[Any] = list(COMMAND_BODIES)
    for cls in ALL_WORKFLOWS:
        defn = workflow._Definition.must_from_class(cls)
        handlers = [defn.run_fn, *(u.fn for u in defn.updates.values())]
        for fn in [*handlers, *(s.fn for s in defn.signals.values())]:
            found += [t for name, t in get_type_hints(fn).items() if name != "return"]
    return found


def test_every_string_a_caller_sends_has_a_rule() -> None:
    seen: set[type] = set()
    found: set[str] = set()
    for tp in edge_types():
        plain_strings(tp, "", seen, found)
    assert sorted(found - NOT_CALLER_TEXT) == []
    assert len(seen) > 40, "the walk missed the models"
    assert sorted(NOT_CALLER_TEXT - found) == [], "listed but no longer a plain str"
