"""Every `starter.py` command and every workflow update, each with one valid body to bend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow

from commands.catalog import NOUNS
from tests.faults.drive import ASSESS, client_file, intake, resolve_body
from tests.fuzz.rig import FRESH, event_body
from workflows.registry import ALL_WORKFLOWS


@dataclass(frozen=True)
class Spec:
    noun: str
    verb: str
    body: dict[str, Any]
    role: str | None = None
    """The kind of live workflow the command's ID names (None: the command takes no ID)."""
    moves: bool = False
    """Whether success moves the target on (another stage, or ended): the next example needs a
    fresh one."""

    @property
    def name(self) -> str:
        return f"{self.noun} {self.verb}"


def _open_body() -> dict[str, Any]:
    # A category makes every valid open go through the matter registry, and the fixed client
    # makes valid repeats merge into the open complaint instead of starting a second one.
    received = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    return {
        **intake(FRESH),
        "client_id": "fz-client-1",
        "category": "fees",
        "received_at": received,
    }


COMMANDS = [
    Spec("complaint", "open", _open_body()),
    Spec("complaint", "assess", ASSESS, "assessment", moves=True),
    Spec(
        "complaint",
        "investigate",
        {"findings": "ledger checked", "evidence": ["statement"], "root_cause": "pricing_error"},
        "investigation",
        moves=True,
    ),
    Spec("complaint", "resolve", resolve_body(), "resolution", moves=True),
    Spec("complaint", "follow-up", {"satisfaction": 5, "comment": "ok"}, "follow_up", moves=True),
    Spec(
        "complaint", "extend", {"reason": "issuer records", "approved_by": "m-2"}, "complex", True
    ),
    Spec(
        "complaint",
        "reassign",
        {"department": "compliance", "handler": "h-77", "reason": "workload"},
        "investigation",
    ),
    Spec("complaint", "withdraw", {"reason": "settled at the branch"}, "assessment", moves=True),
    Spec("complaint", "show", {}, "investigation"),
    Spec("client", "questionnaire", {}),
    Spec("client", "onboard", client_file(FRESH)),
    Spec("client", "show", {}, "client"),
    Spec(
        "client",
        "update",
        {
            "metrics": {"aum": 12000000, "annual_contribution": 150000, "transactions_12m": 14},
            "basic": {"phone": "13900139001"},
            "advisor_id": "adv-09",
        },
        "client",
    ),
    Spec("client", "callback", {"satisfaction": 4, "returns": "on target"}, "client"),
    Spec("client", "pause", {"reason": "abroad until March"}, "client"),
    Spec("client", "resume", {}, "client"),
    Spec("client", "offboard", {"reason": "account closed"}, "client", moves=True),
    # The ID is the file: fuzzed ones name no readable file (tests/commands/ imports real ones).
    Spec("client", "import", {}),
    Spec("client", "erase", {"requested_by": "staff-1", "reason": "PIPL-2026-7"}, "client", True),
    Spec("event", "create", event_body(FRESH)),
    Spec("event", "show", {}, "event"),
    Spec("event", "attend", {"attended": ["fzc-nobody"], "absent": []}, "event"),
    Spec("event", "close", {}, "event", moves=True),
    Spec(
        "improvement",
        "add",
        {
            "cause": "pricing_error",
            "measure": "Check fee tables",
            "owner": "ops-1",
            "due": "2027-01-31",
        },
    ),
    Spec("improvement", "done", {}, "measure", moves=True),
    Spec("improvement", "list", {"status": "open"}),
    Spec("notification", "list", {"status": "failed"}),
    # The ID is the policy file: a drawn one names no file (or a directory), so it is refused.
    Spec("policy", "publish", {"version": "fz-1", "effective_from": "2027-01-01"}),
    Spec("policy", "list", {}),
    Spec("policy", "show", {}),
    # A client nobody onboarded: refused (not found); the role's requests name real clients.
    Spec("privacy", "request", {"client_id": "fz-client-1", "kind": "access", "request_id": FRESH}),
    Spec(
        "privacy", "fulfil", {"by": "staff-1", "identity_verified": True}, "subject_request", True
    ),
    Spec("privacy", "reject", {"by": "staff-1", "reason": "unfounded"}, "subject_request", True),
    Spec("privacy", "show", {}, "subject_request"),
    Spec("report", "build", {"period": "2026-03", "language": "en"}),
    Spec("report", "regulator", {"period": "2026-Q1"}),
    Spec("report", "kpi", {"period": "2026-03"}),
    Spec("report", "schedule", {}),
    Spec("search", "overdue-callbacks", {"tier": "diamond"}),
    Spec("demo", "load", {"clients": 2, "complaints": 1, "seed": 7}),
    # Fuzzed with refusable sizes only (see test_commands): a valid one runs a simulated year,
    # which tests/simulation/ does end to end.
    Spec("demo", "year", {"clients": 0, "complaints": 1}),
]

# Straight to the workflows, past the commands' own checks: what another service calling the
# Temporal API directly could send. (workflow role, update name, a valid argument)
UPDATES: list[tuple[str, str, Any]] = [
    ("assessment", "assess", ASSESS),
    ("investigation", "investigate", {"findings": "ledger checked", "done": True}),
    ("resolution", "resolve", resolve_body()),
    ("follow_up", "follow_up", {"satisfaction": 2, "comment": "not enough"}),
    ("complex", "extend", {"reason": "issuer records", "approved_by": "m-2"}),
    ("investigation", "reassign", {"handler": "h-77"}),
    ("assessment", "withdraw", {"reason": "settled"}),
    ("assessment", "merge_repeat", {k: v for k, v in intake("x").items() if k != "complaint_id"}),
    ("assessment", "acknowledgement", {}),
    ("client", "onboard", {"file": client_file("wrong-client")}),
    ("client", "update_profile", {"advisor_id": "adv-09"}),
    ("client", "record_callback", {"satisfaction": 3}),
    ("client", "pause", {"reason": "abroad"}),
    ("client", "resume", {}),
    ("client", "offboard", {"reason": "closed"}),
    ("client", "erase_personal_data", {"requested_by": "staff-1", "reason": "PIPL-2026-7"}),
    ("event", "record_attendance", {"attended": ["fzc-nobody"]}),
    ("event", "close", {}),
    ("matter", "claim", {"complaint_id": "fz-someone-else"}),
    ("subject_request", "fulfil", {"by": "staff-1", "identity_verified": True}),
    ("subject_request", "reject", {"by": "staff-1", "reason": "identity_not_verified"}),
]


def _declared_updates() -> set[str]:
    return {
        name
        for cls in ALL_WORKFLOWS
        for name in workflow._Definition.must_from_class(cls).updates
        if name
    }


# Every command of the catalogue and every update of every workflow is fuzzed: a new one must be
# added above, or this module refuses to load.
assert {(s.noun, s.verb) for s in COMMANDS} == {(n, v) for n, vs in NOUNS.items() for v in vs}
assert {name for _, name, _ in UPDATES} == _declared_updates()
