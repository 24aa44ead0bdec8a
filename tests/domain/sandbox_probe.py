"""A workflow that runs the client-side domain inside Temporal's sandbox, with nothing passed
through: proof that the domain needs no file, locale or clock access of its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from domain.calendar import CalendarState, HolidayTable, next_event, next_events, prune_done_keys
from domain.client import ClientFile, completeness
from domain.policy import Policy
from domain.questionnaire import questionnaire_json, score_answers
from domain.tiering import review_tier


def plan(inputs: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Everything the probe computes, as JSON: run in and out of the sandbox and compared."""
    policy = Policy.model_validate(inputs["policy"])
    table = HolidayTable.model_validate(inputs["table"])
    state = CalendarState.model_validate(inputs["state"])
    file = ClientFile.model_validate(inputs["file"])
    first = next_event(state, now, policy, holiday_table=table)
    return {
        "events": [
            e.model_dump(mode="json")
            for e in next_events(state, now, policy, timedelta(days=400), holiday_table=table)
        ],
        "next": first.model_dump(mode="json") if first else None,
        "kept": sorted(prune_done_keys(state, now, policy, holiday_table=table)),
        "missing": completeness(file).missing,
        "segment": (s.model_dump(mode="json") if (s := file.current_segment(policy)) else None),
        "risk": score_answers(inputs["file"]["risk_answers"]).model_dump(mode="json"),
        "review": review_tier(state.tier, 1, file.metrics, policy.tiers).model_dump(mode="json"),
        "questions": len(questionnaire_json()["questions"]),
    }


@workflow.defn(name="DomainSandboxProbe", sandboxed=True)
class DomainSandboxProbe:
    @workflow.run
    async def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        now = workflow.now()
        return {"now": now.isoformat(), "plan": plan(inputs, now)}
