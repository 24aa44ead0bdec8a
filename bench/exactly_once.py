"""Did several workers handle anything twice? What `bench/scale_out.py` checks after each run.

The read models cannot hold a duplicate row (a projection row's key is the workflow id and the
seq of the event that made it, the outbox's is the notification id), so counting rows per key
proves nothing. A command or a timer handled twice shows up one level up, as a second *event*:

- commands: a complaint's history accepting the same update twice (a command retried under a
  new update id and applied again), or its read model holding the same event kind twice
  (`complaint_events`: two `assessed` rows at different seqs);
- timers: a client's greeting written twice (two `notifications` rows of the same template for
  one client workflow, at different seqs);
- sends: the SMS gateway receiving a notification id more than once, or one the outbox never
  marked sent (`GatewayCounter` counts every POST per `Idempotency-Key`: a real gateway would
  fold such a retry, so this asks more than delivery needs).

Every complaint of a run follows the same lifecycle, so each must also look like the others
(the same event kinds in order, the same notification templates): a doubled or lost step in one
differs from the rest. Except its deadline: whether a complaint's decision-deadline timer ends in
a warning or a breach depends on how long its commands took (the bench's policy decides within
PT20S, so a stalled complaint breaches), so those kinds are left out of the comparison (`TIMED`);
that none of them happens twice is still checked.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from projections.tables import complaint_events, notifications

TIMED = frozenset(
    {"deadline_warning", "sla_breached", "complaint_deadline_warning", "complaint_sla_breached"}
)


def repeated(keys: Iterable[Any]) -> dict[Any, int]:
    """The keys seen more than once, with how often."""
    return {k: n for k, n in Counter(keys).items() if n > 1}


def updates_accepted(history: WorkflowHistory) -> list[str]:
    """The names of the updates the history accepted, in order."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == accepted
    ]


@dataclass
class Findings:
    """What was handled more (or less) often than once; empty lists: exactly once."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, what: str, found: dict[Any, int] | list[Any]) -> None:
        items = found.items() if isinstance(found, dict) else ((f, None) for f in found)
        for key, n in items:
            self.problems.append(f"{what}: {key}" + (f" x{n}" if n else ""))

    def summary(self) -> str:
        counted = ", ".join(f"{n:,} {what}" for what, n in self.checked.items())
        if self.ok:
            return f"every one exactly once ({counted})"
        shown = "; ".join(self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        return f"{len(self.problems)} PROBLEM(S): {shown}{more} ({counted})"


def check_commands(findings: Findings, complaint_histories: Sequence[WorkflowHistory]) -> None:
    """Each update of a complaint accepted once, and every complaint the same updates."""
    shapes: dict[str, list[str]] = {}
    for h in complaint_histories:
        names = updates_accepted(h)
        findings.add(f"{h.workflow_id}: update accepted twice", repeated(names))
        shapes[h.workflow_id] = sorted(names)
    findings.add("complaint with other updates than the others", _odd_ones(shapes))
    findings.checked["complaint histories"] = len(complaint_histories)
    findings.checked["commands"] = sum(len(s) for s in shapes.values())


def complaint_rows(engine: Engine, workflow_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per complaint workflow: its event kinds by seq and its notification templates."""
    out: dict[str, dict[str, Any]] = {w: {"events": [], "notifications": []} for w in workflow_ids}
    e, n = complaint_events.c, notifications.c
    with engine.connect() as conn:
        for chunk in _chunks(list(workflow_ids), 500):
            for wid, kind in conn.execute(
                select(e.workflow_id, e.kind).where(e.workflow_id.in_(chunk)).order_by(e.seq)
            ):
                out[wid]["events"].append(kind)
            for wid, template in conn.execute(
                select(n.workflow_id, n.template).where(n.workflow_id.in_(chunk))
            ):
                out[wid]["notifications"].append(template)
    return out


def check_complaint_rows(findings: Findings, rows: dict[str, dict[str, Any]]) -> None:
    """No complaint event kind twice in one complaint; every complaint shaped like the others
    (but for its deadline's outcome)."""
    for wid, r in rows.items():
        findings.add(f"{wid}: complaint event twice", repeated(r["events"]))
        findings.add(f"{wid}: no complaint events", [] if r["events"] else ["none"])
    shapes = {
        w: [k for k in (*r["events"], "|", *sorted(r["notifications"])) if k not in TIMED]
        for w, r in rows.items()
    }
    findings.add("complaint rows unlike the others", _odd_ones(shapes))
    findings.checked["complaint event rows"] = sum(len(r["events"]) for r in rows.values())


def greeting_rows(engine: Engine, prefix: str, template: str) -> list[tuple[str, str, str]]:
    """(workflow id, notification id, status) of every `template` row of workflows `prefix*`."""
    n = notifications.c
    with engine.connect() as conn:
        return [
            (r.workflow_id, r.notification_id, r.status)
            for r in conn.execute(
                select(n.workflow_id, n.notification_id, n.status).where(
                    n.template == template, n.workflow_id.like(prefix + "%")
                )
            )
        ]


def check_greetings(
    findings: Findings, rows: Sequence[tuple[str, str, str]], workflow_ids: Sequence[str]
) -> None:
    """One greeting per client workflow: none written twice (a timer handled twice), none
    missing, every one sent."""
    findings.add("greeting written twice", repeated(w for w, _, _ in rows))
    have = {w for w, _, _ in rows}
    findings.add("greeting never written", sorted(set(workflow_ids) - have))
    findings.add("greeting not sent", sorted(nid for _, nid, s in rows if s != "sent"))
    findings.checked["greetings"] = len(rows)


def sent_sms(engine: Engine, workflow_ids: Sequence[str]) -> list[str]:
    """Notification ids the outbox marked sent over SMS, for these workflows."""
    n = notifications.c
    out: list[str] = []
    with engine.connect() as conn:
        for chunk in _chunks(list(workflow_ids), 500):
            out += conn.execute(
                select(n.notification_id).where(
                    n.workflow_id.in_(chunk), n.channel == "sms", n.status == "sent"
                )
            ).scalars()
    return out


def check_sends(findings: Findings, sent: Sequence[str], posted: Counter[str]) -> None:
    """Each notification the outbox marked sent reached the gateway once, and nothing else did.
    `posted`: the gateway's count of POSTs per key, for these workflows only."""
    findings.add("sent to the gateway twice", repeated(posted.elements()))
    findings.add("marked sent, never reached the gateway", sorted(set(sent) - set(posted)))
    findings.add("reached the gateway, not marked sent", sorted(set(posted) - set(sent)))
    findings.checked["SMS sends"] = sum(posted.values())


def _odd_ones(shapes: dict[str, list[str]]) -> list[str]:
    """The ids whose shape differs from the most common one, each with how it differs."""
    if not shapes:
        return []
    common, _ = Counter(tuple(s) for s in shapes.values()).most_common(1)[0]
    out = []
    for w, s in sorted(shapes.items()):
        if tuple(s) == common:
            continue
        extra, missing = Counter(s) - Counter(common), Counter(common) - Counter(s)
        how = [f"extra {sorted(extra.elements())}"] if extra else []
        how += [f"missing {sorted(missing.elements())}"] if missing else []
        out.append(f"{w} ({'; '.join(how) or 'same items, other order: ' + ' '.join(s)})")
    return out


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class GatewayCounter:
    """An SMS gateway on 127.0.0.1 that accepts everything and counts POSTs per
    `Idempotency-Key` (the notification id); it keeps no message text or number."""

    def __init__(self) -> None:
        self.posts: Counter[str] = Counter()
        self._lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                with counter._lock:
                    counter.posts[key] += 1
                data = json.dumps({"message_id": key}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/sms"

    def posted(self, prefixes: Sequence[str]) -> Counter[str]:
        """POSTs per key, of the notification ids starting with one of `prefixes`."""
        with self._lock:
            return Counter({k: n for k, n in self.posts.items() if k.startswith(tuple(prefixes))})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
