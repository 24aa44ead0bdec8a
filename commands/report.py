"""Report commands: build the periodic report, compute a period's KPI snapshots, keep the
monthly `kpi-report` schedule.

    report build    {"period": "2026-03"} or {"period_start", "period_end"}, "out_dir", "as_of",
                    "language" ("zh-CN", the firm's language and the default, or "en")
    report kpi      {"period": ...} or {"period_start", "period_end"}, optional "qualitative"
    report schedule {}
    report regulator {"period": "2027-Q1"} or {"period_start", "period_end"}, "out_dir"

Dates: `period_start` "2026-03-01" is local midnight in the policy's time zone; a date-only
`period_end` such as "2026-03-31" includes that whole day, while a full timestamp is exclusive.
`build` needs no Temporal connection (it reads PostgreSQL); `kpi` and `schedule` do.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.common import WorkflowIDConflictPolicy

from commands.base import Command, CommandContext, CommandError, engine_for
from commands.schedules import ensure_kpi_schedule
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from domain.refusals import field_problems
from workflows.kpi_report import SCHEDULE_ID, KpiReportInput, KpiReportWorkflow

T = TypeVar("T")


def _instant(value: Any, field: str, policy: Policy, *, end: bool) -> datetime:
    if isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
    else:
        raise CommandError(f"{field} must be a date such as 2026-03-01", "invalid")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{field}: {text!r} is not an ISO date or timestamp", "invalid") from exc
    date_only = "T" not in text and " " not in text.strip()
    if date_only:
        day = parsed.date() + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(), policy.zone())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=policy.zone())


def kpi_input(body: dict[str, Any], policy: Policy) -> tuple[KpiReportInput, ReportingPeriod]:
    """The workflow input for a body, with the period it resolves to; refused with the reason."""
    try:
        inp = KpiReportInput(
            policy=policy,
            period=body.get("period"),
            period_start=(
                _instant(body["period_start"], "period_start", policy, end=False)
                if body.get("period_start") is not None
                else None
            ),
            period_end=(
                _instant(body["period_end"], "period_end", policy, end=True)
                if body.get("period_end") is not None
                else None
            ),
            qualitative=body.get("qualitative") or {},
        )
        return inp, inp.resolve(datetime.now(UTC))
    except ValidationError as exc:
        problems = field_problems(exc)
        raise CommandError(f"invalid report request: {problems}", "invalid") from exc
    except ValueError as exc:
        raise CommandError(_short(str(exc)), "invalid") from exc


async def _reading(work: Awaitable[T]) -> T:
    """A report's read of PostgreSQL; the database out of reach is `unavailable` (exit 3), as
    Temporal out of reach is, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        return await work
    except OperationalError as exc:
        raise CommandError(
            f"cannot read the read models: {type(exc.orig).__name__ if exc.orig else 'error'}",
            "unavailable",
        ) from None


def _short(message: str, limit: int = 160) -> str:
    """Refusals quote what they refuse (a period label) but never a whole oversized input."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


async def build(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from reports.build import build_report
    from reports.i18n import DEFAULT_LANGUAGE, LANGUAGES

    _, period = kpi_input(
        {k: v for k, v in body.items() if k not in ("out_dir", "as_of", "language")}, ctx.policy
    )
    language = body.get("language") or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        raise CommandError(
            f"language must be one of {', '.join(LANGUAGES)}, not {_short(repr(language), 40)}",
            "invalid",
        )
    # Open items are judged as of now, or as of `as_of` (e.g. the end of a simulated year).
    as_of = _instant(body["as_of"], "as_of", ctx.policy, end=False) if body.get("as_of") else None
    out_dir = Path(body.get("out_dir") or f"reports-{period.label}")
    files = await _reading(
        asyncio.to_thread(
            build_report, engine_for(ctx), period, out_dir, ctx.policy, as_of, language
        )
    )
    return {
        "period": period.label,
        "language": language,
        "html": str(files.html),
        "csv": [str(p) for p in files.csv],
    }


async def regulator(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """The regulator's complaint return for a month or quarter (`domain.regulatory`): writes
    `regulator_return.csv` and `regulator_complaints.csv` into `out_dir` and answers the firm's
    line with the files. Reads PostgreSQL only."""
    import asyncio

    from reports.build import build_regulator_return

    _, period = kpi_input({k: v for k, v in body.items() if k != "out_dir"}, ctx.policy)
    # beside `report build`'s files of the same period, which include the same two tables
    out_dir = Path(body.get("out_dir") or f"reports-{period.label}")
    paths, table = await _reading(
        asyncio.to_thread(build_regulator_return, engine_for(ctx), period, out_dir, ctx.policy)
    )
    firm = dict(zip(table.columns[2:], table.rows[0][2:], strict=True))
    firm["compensation_total"] = str(firm["compensation_total"])
    return {"period": period.label, "firm": firm, "csv": [str(p) for p in paths]}


async def kpi(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """Computes (or recomputes) a period's snapshots now and waits for the result."""
    inp, period = kpi_input(body, ctx.policy)
    handle = await ctx.client.start_workflow(
        KpiReportWorkflow.run,
        inp,
        id=f"{SCHEDULE_ID}-{period.label}",
        task_queue=ctx.task_queue,
        # Asked twice while running, the second caller waits for the same run.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    result = await handle.result()
    return {"workflow_id": handle.id, **result.model_dump(mode="json")}


async def schedule(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    outcome = await ensure_kpi_schedule(ctx.client, ctx.task_queue, ctx.policy)
    return {"schedule_id": SCHEDULE_ID, "result": outcome}


COMMANDS: dict[str, Command] = {
    "build": build,
    "regulator": regulator,
    "kpi": kpi,
    "schedule": schedule,
}
