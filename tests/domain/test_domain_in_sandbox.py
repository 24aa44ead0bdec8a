"""The client-side domain runs unchanged inside the workflow sandbox (the real one, on the
time-skipping server), and answers there exactly as it does outside."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import CalendarState, greeting_years
from domain.consent import Consents, ContactChannel, Purpose
from domain.enums import Tier
from domain.holiday_dates import holiday_table
from domain.policy import Policy
from domain.questionnaire import QUESTIONS
from tests.domain.sandbox_probe import DomainSandboxProbe, plan


async def test_the_domain_answers_the_same_inside_the_sandbox(ts_env: WorkflowEnvironment) -> None:
    policy = Policy()
    now = datetime.fromisoformat("2027-01-01T00:00:00+00:00")  # only for the table's span
    first, last = greeting_years(now, policy)
    state = CalendarState(
        client_id="sandbox-1",
        tier=Tier.PLATINUM,
        onboarded_at=now - timedelta(days=400),
        birth_date=date(1985, 2, 28),
        consents=Consents(granted={ContactChannel.SMS: frozenset({Purpose.CARE})}),
        done_keys=frozenset({"risk_assessment:initial"}),
    )
    inputs = {
        "policy": policy.model_dump(mode="json"),
        "table": holiday_table(policy.holidays, first - 10, last + 10).model_dump(mode="json"),
        "state": state.model_dump(mode="json"),
        "file": {
            "client_id": "sandbox-1",
            "kind": "individual",
            "basic": {"name": "Test Client", "phone": "13800000000"},
            "metrics": {"aum": "3500000", "annual_contribution": "40000", "transactions_12m": 7},
            "risk_answers": [2] * len(QUESTIONS),
        },
    }
    async with Worker(ts_env.client, task_queue="domain-sandbox", workflows=[DomainSandboxProbe]):
        result = await ts_env.client.execute_workflow(
            DomainSandboxProbe.run, inputs, id="domain-sandbox-probe", task_queue="domain-sandbox"
        )
    inside_now = datetime.fromisoformat(result["now"])
    assert result["plan"] == plan(inputs, inside_now)
    assert result["plan"]["events"] and result["plan"]["next"] is not None
