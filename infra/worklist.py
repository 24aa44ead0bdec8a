"""The supervisor's worklist: open complaints and overdue advisor duties as one web page, served
by the codec server at `/worklist` to the people it authenticates (issue 20).

What it reads, and why it can show no personal data:
- Temporal visibility (`list_workflows`): each workflow's id, run id and search attributes,
  which never hold personal data (workflows/search_attributes.py). Memos and payloads are never
  asked for, and the client that reads visibility is connected without the payload codec
  (`connect_visibility`), so it could not decrypt one if it tried.
- The read models, only for what no search attribute carries: a complaint's `handler` and a
  client's `advisor_id` and `next_service_kind` (staff ids and a duty's kind), plus the policy
  version in force. No `*_enc` column is selected.
So the page shows ids, stages, severities, categories, departments, staff ids, tiers and
instants; client ids are opaque references (`domain.identifiers`), not names.

What it records: before a page is returned, one `access_log` row per workflow it lists
(`worklist-view`, the viewer, the workflow and client, the filter) and one for the view itself,
in one transaction; if they cannot be written the page is refused (503) and nothing is shown.

Instants are shown in the policy's time zone. "Now" comes from `Worklist.now`, injectable for
tests; the searches that need "now minus a period" are built from it (`domain.saved_searches`).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
from base64 import b64encode
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode

from sqlalchemy import Column, Engine, select
from temporalio.client import Client, WorkflowExecution
from temporalio.service import TLSConfig

from domain.enums import Tier
from domain.identifiers import REF_PATTERN
from domain.localtime import wall_clock
from domain.policy import Policy
from domain.policy_versions import PolicyVersion, in_force
from domain.saved_searches import (
    OPEN_COMPLAINTS,
    due_soon_query,
    overdue_callbacks_query,
    overdue_cutoff,
)
from projections.access import AccessAction, record_access
from projections.tables import clients, complaints, policy_versions

log = logging.getLogger(__name__)

ACTION = AccessAction.WORKLIST_VIEW
SHOWN = 200
"""Rows shown per list; the page says how many more matched. Each shown row is an access_log
row, so a view stays a bounded write."""
FETCHED = 2000
"""Rows read from visibility to sort (breached first, then by deadline): visibility cannot sort
by our attributes, so a filter matching more says the order covers the first FETCHED only."""

_REF = re.compile(REF_PATTERN)

Kind = Literal["complaints", "duties"]


@dataclass(frozen=True)
class Filter:
    key: str
    label: str
    kind: Kind
    readme: str
    """The README's question this answers (or what it adds)."""


FILTERS: dict[str, Filter] = {
    f.key: f
    for f in (
        Filter("open", "All open complaints", "complaints", "every open complaint"),
        Filter("breached", "Past deadline", "complaints", "open complaints past deadline"),
        Filter(
            "investigation-breached",
            "In investigation, past deadline",
            "complaints",
            "in investigation, past deadline",
        ),
        Filter(
            "investigation",
            "In investigation",
            "complaints",
            "complaints in investigation by department (with a department)",
        ),
        Filter(
            "high-critical",
            "High or critical",
            "complaints",
            "open complaints of high or critical severity",
        ),
        Filter(
            "reopened",
            "Reopened more than once",
            "complaints",
            "complaints reopened more than once",
        ),
        Filter(
            "due-soon",
            "Deadline within the warning period",
            "complaints",
            "open complaints whose deadline falls within complaints.warn_before from now",
        ),
        Filter(
            "overdue-duties",
            "Overdue callbacks by advisor",
            "duties",
            "clients with an overdue callback (all tiers, or one: diamond is the README's)",
        ),
    )
}


class BadRequest(ValueError):
    """A parameter the page does not take; the message names it, never echoes it."""


@dataclass(frozen=True)
class Selection:
    filter: Filter
    department: str | None = None
    tier: Tier | None = None
    advisor: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Selection:
        unknown = set(params) - {"filter", "department", "tier", "advisor"}
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))[:80]}")
        chosen = FILTERS.get(params.get("filter", "open"))
        if chosen is None:
            raise BadRequest(f"filter must be one of {', '.join(FILTERS)}")
        department = params.get("department") or None
        advisor = params.get("advisor") or None
        for name, value in (("department", department), ("advisor", advisor)):
            # They go into a visibility query or a comparison: only the ids' own characters.
            if value is not None and not _REF.match(value):
                raise BadRequest(f"{name} must be a department or staff id")
        tier = None
        if params.get("tier"):
            try:
                tier = Tier(params["tier"])
            except ValueError:
                raise BadRequest(f"tier must be {'|'.join(t.value for t in Tier)}") from None
        if chosen.kind == "complaints" and (tier or advisor):
            raise BadRequest("tier and advisor apply to overdue-duties only")
        if chosen.kind == "duties" and department:
            raise BadRequest("department applies to complaint filters only")
        return cls(chosen, department, tier, advisor)

    def params(self) -> dict[str, str]:
        out = {"filter": self.filter.key}
        for name in ("department", "advisor"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.tier:
            out["tier"] = self.tier.value
        return out

    def describe(self) -> str:
        """For the access log's purpose: the filter and its parameters (ids only)."""
        extra = ", ".join(f"{k}={v}" for k, v in self.params().items() if k != "filter")
        return self.filter.key + (f" ({extra})" if extra else "")


def visibility_query(sel: Selection, policy: Policy, now: datetime) -> str:
    key = sel.filter.key
    if key == "overdue-duties":
        return overdue_callbacks_query(sel.tier, overdue_cutoff(policy, now))
    if key == "due-soon":
        query = due_soon_query(policy, now)
    else:
        query = (
            OPEN_COMPLAINTS
            + {
                "open": "",
                "breached": " AND SlaBreached=true",
                "investigation-breached": (
                    " AND ComplaintStage='investigation' AND SlaBreached=true"
                ),
                "investigation": " AND ComplaintStage='investigation'",
                "high-critical": " AND ComplaintSeverity IN ('high', 'critical')",
                "reopened": " AND ReopenCount > 1",
            }[key]
        )
    if sel.department:
        query += f" AND ResponsibleDepartment='{sel.department}'"
    return query


@dataclass(frozen=True)
class ComplaintRow:
    workflow_id: str
    run_id: str | None
    complaint_id: str
    client_id: str | None
    stage: str | None
    severity: str | None
    category: str | None
    department: str | None
    handler: str | None
    deadline: datetime | None
    breached: bool
    reopen_count: int

    def late(self, now: datetime) -> bool:
        """Past its deadline: flagged by the workflow, or due already while its breach timer has
        not yet fired (a worker down, a task queued)."""
        return self.breached or (self.deadline is not None and self.deadline <= now)


@dataclass(frozen=True)
class DutyRow:
    workflow_id: str
    run_id: str | None
    client_id: str | None
    tier: str | None
    advisor: str | None
    kind: str | None
    due: datetime | None


def order_complaints(rows: Sequence[ComplaintRow], now: datetime) -> list[ComplaintRow]:
    """Breached first, then by deadline (none last), then by id for a stable page."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (not r.late(now), r.deadline or far, r.complaint_id))


def order_duties(rows: Sequence[DutyRow]) -> list[DutyRow]:
    """By advisor (unassigned last), then the longest overdue first."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        rows, key=lambda r: (r.advisor is None, r.advisor or "", r.due or far, r.workflow_id)
    )


def time_left(deadline: datetime | None, now: datetime) -> str:
    """`2 d 3 h`, `45 min`, or `overdue 1 d 2 h`: to the minute, the two largest units."""
    if deadline is None:
        return "–"
    delta = deadline - now
    text = _span(abs(delta))
    return text if delta > timedelta(0) else f"overdue {text}"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def _keyword(wf: WorkflowExecution, name: str) -> str | None:
    for pair in wf.typed_search_attributes:
        if pair.key.name == name:
            value = pair.value
            return None if value is None else str(value)
    return None


def _attribute(wf: WorkflowExecution, name: str) -> object:
    for pair in wf.typed_search_attributes:
        if pair.key.name == name:
            return pair.value
    return None


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


@dataclass
class Listing:
    rows: list[ComplaintRow] | list[DutyRow]
    matched: int
    capped: bool


def policy_in_force(engine: Engine, file_policy: Policy, now: datetime) -> Policy:
    """The published version in force at `now`, else the file's (as `commands.policy.resolve`)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                policy_versions.c.version_id,
                policy_versions.c.effective_from,
                policy_versions.c.policy,
            ).order_by(policy_versions.c.published_at, policy_versions.c.version_id)
        ).all()
    current = in_force([PolicyVersion.model_validate(dict(r._mapping)) for r in rows], now)
    return current.policy if current else file_policy


async def connect_visibility(
    address: str, namespace: str, *, tls: TLSConfig | bool = False, api_key: str | None = None
) -> Client:
    """A Temporal client for listing workflows only: the SDK's default converter, no codec, so
    nothing it receives can be decrypted by it."""
    return await Client.connect(address, namespace=namespace, tls=tls, api_key=api_key)


@dataclass
class Worklist:
    """`client` gives the visibility client (connected lazily: the page answers 503 while
    Temporal is down instead of stopping the codec server); `policy(now)` the policy in force."""

    client: Callable[[], Awaitable[Client]]
    engine: Engine
    policy: Callable[[datetime], Policy]
    namespace: str
    ui_url: str
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def page(self, params: Mapping[str, str], actor: str) -> tuple[int, str]:
        """(HTTP status, HTML). Nothing listed is returned before it is on record."""
        try:
            sel = Selection.parse(params)
        except BadRequest as err:
            return 400, _message_page("Not a worklist filter", str(err))
        now = self.now()
        try:
            policy = await asyncio.to_thread(self.policy, now)
        except Exception:
            log.exception("worklist: the policy in force could not be read")
            return 503, _message_page("Unavailable", "The policy in force could not be read.")
        query = visibility_query(sel, policy, now)
        try:
            executions, matched = await self._list(query)
        except Exception:
            log.exception("worklist: Temporal visibility could not be read")
            return 503, _message_page("Unavailable", "Temporal could not be reached; try again.")
        try:
            listing = await asyncio.to_thread(self._join, sel, executions, matched, now)
        except Exception:
            log.exception("worklist: the read models could not be read")
            return 503, _message_page("Unavailable", "The read models could not be read.")
        try:
            await asyncio.to_thread(self._record, sel, listing, actor)
        except Exception:
            log.exception("worklist refused: the view could not be recorded")
            return 503, _message_page(
                "Not recorded, not shown",
                "The view could not be recorded in the access log, so nothing is shown.",
            )
        return 200, render(sel, listing, query, policy, now, self.namespace, self.ui_url)

    async def _list(self, query: str) -> tuple[list[WorkflowExecution], int]:
        client = await self.client()
        found: list[WorkflowExecution] = []
        matched = 0
        async for wf in client.list_workflows(query, page_size=500):
            matched += 1
            if matched > FETCHED:
                # more than can be sorted here: how many in all is the server's count
                return found, (await client.count_workflows(query)).count
            found.append(wf)
        return found, matched

    def _join(
        self, sel: Selection, found: list[WorkflowExecution], matched: int, now: datetime
    ) -> Listing:
        ids = [wf.id for wf in found]
        capped = matched > len(found)
        if sel.filter.kind == "complaints":
            handlers = self._column(complaints.c.workflow_id, [complaints.c.handler], ids)
            rows: list[ComplaintRow] = []
            for wf in found:
                reopened = _attribute(wf, "ReopenCount")
                rows.append(
                    ComplaintRow(
                        workflow_id=wf.id,
                        run_id=wf.run_id,
                        complaint_id=wf.id.removeprefix("complaint-"),
                        client_id=_keyword(wf, "ClientId"),
                        stage=_keyword(wf, "ComplaintStage"),
                        severity=_keyword(wf, "ComplaintSeverity"),
                        category=_keyword(wf, "ComplaintCategory"),
                        department=_keyword(wf, "ResponsibleDepartment"),
                        handler=handlers.get(wf.id, (None,))[0],
                        deadline=_instant(_attribute(wf, "SlaDeadline")),
                        breached=_attribute(wf, "SlaBreached") is True,
                        reopen_count=reopened if isinstance(reopened, int) else 0,
                    )
                )
            return Listing(order_complaints(rows, now)[:SHOWN], matched, capped)
        extra = self._column(
            clients.c.workflow_id, [clients.c.advisor_id, clients.c.next_service_kind], ids
        )
        duties = [
            DutyRow(
                workflow_id=wf.id,
                run_id=wf.run_id,
                client_id=_keyword(wf, "ClientId") or wf.id.removeprefix("client-"),
                tier=_keyword(wf, "ClientTier"),
                advisor=extra.get(wf.id, (None, None))[0],
                kind=extra.get(wf.id, (None, None))[1],
                due=_instant(_attribute(wf, "NextServiceDue")),
            )
            for wf in found
        ]
        if sel.advisor:
            duties = [d for d in duties if d.advisor == sel.advisor]
            matched = len(duties) if not capped else matched
        return Listing(order_duties(duties)[:SHOWN], matched, capped)

    def _column(
        self, key: Column[Any], columns: list[Column[Any]], ids: list[str]
    ) -> dict[str, tuple[str | None, ...]]:
        if not ids:
            return {}
        out: dict[str, tuple[str | None, ...]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                stmt = select(key, *columns).where(key.in_(chunk))
                for row in conn.execute(stmt):
                    out[row[0]] = tuple(row[1:])
        return out

    def _record(self, sel: Selection, listing: Listing, actor: str) -> None:
        purpose = f"worklist {sel.describe()}"
        with self.engine.begin() as conn:
            record_access(
                conn,
                actor,
                ACTION,
                purpose=f"{purpose}: {len(listing.rows)} shown of {listing.matched}",
            )
            for row in listing.rows:
                record_access(
                    conn,
                    actor,
                    ACTION,
                    client_id=row.client_id,
                    workflow_id=row.workflow_id,
                    purpose=purpose,
                )


# --- the page -------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.2em 0 .4em}
nav{margin:.6em 0}nav a{display:inline-block;margin:0 .6em .3em 0;padding:.15em .5em;
border:1px solid #bbb;border-radius:3px;color:#0645ad;text-decoration:none}
nav a.on{background:#0645ad;color:#fff;border-color:#0645ad}
table{border-collapse:collapse;width:100%}th,td{padding:.3em .5em;border-bottom:1px solid #ddd;
text-align:left;white-space:nowrap}th{background:#f0f0f0}
tr.breached td{background:#f8d0d0}tr.overdue td{background:#fde7c8}
code{background:#f4f4f4;padding:.1em .3em;white-space:normal;word-break:break-all}
.note{color:#555}
""".strip()
STYLE_HASH = "sha256-" + b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _shown(instant: datetime | None, policy: Policy) -> str:
    if instant is None:
        return "–"
    return f"{wall_clock(instant, policy.zone()):%Y-%m-%d %H:%M}"


def ui_workflow_url(ui_url: str, namespace: str, workflow_id: str, run_id: str | None) -> str:
    base = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/"
    base += quote(workflow_id, safe="")
    return f"{base}/{quote(run_id, safe='')}/history" if run_id else base


def ui_search_url(ui_url: str, namespace: str, query: str) -> str:
    base = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows"
    return f"{base}?{urlencode({'query': query})}"


def _link(params: Mapping[str, str], label: str, on: bool) -> str:
    cls = ' class="on"' if on else ""
    return f'<a href="worklist?{_e(urlencode(params))}"{cls}>{_e(label)}</a>'


def _message_page(title: str, message: str) -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style><h1>{_e(title)}</h1><p>{_e(message)}</p>"
        '<p><a href="worklist">Back to the worklist</a></p></html>'
    )


def render(
    sel: Selection,
    listing: Listing,
    query: str,
    policy: Policy,
    now: datetime,
    namespace: str,
    ui_url: str,
) -> str:
    zone = policy.timezone
    parts = [
        '<!doctype html><html lang="en"><meta charset="utf-8">',
        "<title>Client Care · supervisor's worklist</title>",
        f"<style>{STYLE}</style>",
        "<h1>Supervisor's worklist</h1>",
        f'<p class="note">As of <time data-now="{_e(now.isoformat())}">{_e(_shown(now, policy))}'
        f"</time> {_e(zone)}. Times are in the firm's time zone ({_e(zone)}).</p>",
        '<nav aria-label="complaints">Complaints: ',
    ]
    for f in FILTERS.values():
        if f.kind == "complaints":
            on = sel.filter is f and not sel.department
            parts.append(_link({"filter": f.key}, f.label, on))
    parts.append('</nav><nav aria-label="duties">Advisor duties: ')
    parts.append(
        _link(
            {"filter": "overdue-duties"},
            "Overdue, all tiers",
            sel.filter.key == "overdue-duties" and not sel.tier and not sel.advisor,
        )
    )
    for tier in Tier:
        parts.append(
            _link(
                {"filter": "overdue-duties", "tier": tier.value},
                f"Overdue, {tier.value}",
                sel.tier is tier and not sel.advisor,
            )
        )
    parts.append("</nav>")
    title = FILTERS[sel.filter.key].label
    if sel.department:
        title += f" · department {sel.department}"
    if sel.tier:
        title += f" · tier {sel.tier.value}"
    if sel.advisor:
        title += f" · advisor {sel.advisor}"
    parts.append(f'<h2 id="title">{_e(title)}</h2>')
    shown = len(listing.rows)
    count = (
        f"{shown} listed of {listing.matched} matching"
        if listing.matched > shown
        else f"{shown} listed"
    )
    parts.append(
        f'<p class="note"><span id="count" data-shown="{shown}" data-matched="{listing.matched}">'
        f"{_e(count)}</span>. "
        f'<a href="{_e(ui_search_url(ui_url, namespace, query))}">This search in the Temporal UI'
        f"</a>: <code>{_e(query)}</code></p>"
    )
    if listing.capped:
        parts.append(
            f'<p class="note">More than {FETCHED} match: the order covers the first {FETCHED} '
            "visibility returned. Narrow the filter.</p>"
        )
    if sel.filter.kind == "complaints":
        parts.append(_complaint_table(listing.rows, policy, now, namespace, ui_url))  # type: ignore[arg-type]
    else:
        parts.append(_duty_table(listing.rows, sel, policy, now, namespace, ui_url))  # type: ignore[arg-type]
    parts.append("</html>")
    return "".join(parts)


def _complaint_table(
    rows: list[ComplaintRow], policy: Policy, now: datetime, namespace: str, ui_url: str
) -> str:
    zone = policy.timezone
    out = [
        '<table id="complaints"><thead><tr><th>complaint</th><th>client</th><th>stage</th>'
        "<th>severity</th><th>category</th><th>department</th><th>handler</th>"
        f"<th>deadline ({_e(zone)})</th><th>time left</th><th>reopened</th></tr></thead><tbody>"
    ]
    for r in rows:
        late = r.late(now)
        cls = ' class="breached"' if late else ""
        url = ui_workflow_url(ui_url, namespace, r.workflow_id, r.run_id)
        dept = (
            _link({"filter": "investigation", "department": r.department}, r.department, False)
            if r.department
            else "–"
        )
        out.append(
            f'<tr{cls} data-workflow-id="{_e(r.workflow_id)}" data-breached="{str(late).lower()}">'
            f'<td><a href="{_e(url)}">{_e(r.complaint_id)}</a></td>'
            f"<td>{_e(r.client_id or '–')}</td><td>{_e(r.stage or '–')}</td>"
            f"<td>{_e(r.severity or '–')}</td><td>{_e(r.category or '–')}</td>"
            f"<td>{dept}</td><td>{_e(r.handler or '–')}</td>"
            f"<td>{_e(_shown(r.deadline, policy))}</td><td>{_e(time_left(r.deadline, now))}</td>"
            f"<td>{r.reopen_count}</td></tr>"
        )
    if not rows:
        out.append('<tr><td colspan="10">Nothing matches.</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _duty_table(
    rows: list[DutyRow],
    sel: Selection,
    policy: Policy,
    now: datetime,
    namespace: str,
    ui_url: str,
) -> str:
    zone = policy.timezone
    counts: dict[str | None, int] = {}
    for r in rows:
        counts[r.advisor] = counts.get(r.advisor, 0) + 1
    base = {"filter": "overdue-duties"} | ({"tier": sel.tier.value} if sel.tier else {})
    out = ['<nav aria-label="advisors">By advisor: ']
    for advisor, n in counts.items():
        label = f"{advisor or 'unassigned'}: {n}"
        if advisor:
            out.append(_link(base | {"advisor": advisor}, label, sel.advisor == advisor))
        else:
            out.append(f"<span>{_e(label)}</span>")
    out.append("</nav>")
    grace = policy.service.callback_grace.iso()
    out.append(
        f'<p class="note">Overdue: due longer ago than the callback grace ({_e(grace)}).</p>'
        '<table id="duties"><thead><tr><th>advisor</th><th>client</th><th>tier</th><th>duty</th>'
        f"<th>due ({_e(zone)})</th><th>due since</th></tr></thead><tbody>"
    )
    for r in rows:
        url = ui_workflow_url(ui_url, namespace, r.workflow_id, r.run_id)
        late = _span(now - r.due) if r.due else "–"
        out.append(
            f'<tr class="overdue" data-workflow-id="{_e(r.workflow_id)}">'
            f"<td>{_e(r.advisor or 'unassigned')}</td>"
            f'<td><a href="{_e(url)}">{_e(r.client_id or r.workflow_id)}</a></td>'
            f"<td>{_e(r.tier or '–')}</td><td>{_e(r.kind or '–')}</td>"
            f"<td>{_e(_shown(r.due, policy))}</td><td>{_e(late)}</td></tr>"
        )
    if not rows:
        out.append('<tr><td colspan="6">Nothing overdue.</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


__all__ = [
    "ACTION",
    "CSP",
    "FILTERS",
    "ComplaintRow",
    "DutyRow",
    "Selection",
    "Worklist",
    "connect_visibility",
    "order_complaints",
    "policy_in_force",
    "render",
    "time_left",
    "ui_workflow_url",
]
