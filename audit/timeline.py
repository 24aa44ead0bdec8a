"""A workflow's history as a readable, decrypted timeline: who asked for what, what was decided.

Three kinds of "who" are shown, from most to least trustworthy: the server's authenticated
`principal` (when the cluster authenticates callers), the client `identity` the caller's SDK
recorded, and an `actor` field inside the decoded command input (what our own tools say the
person was).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from audit.headlines import RunRefs, headline
from audit.payloads import Refusal, decode_bound, decoded_history
from audit.plain import Plain
from domain.sealed import tokens_in

# Bookkeeping between worker and server: in --json output, left out of the readable text.
_QUIET = {
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
    "ActivityTaskStarted",  # written when the attempt ends; its attempt count is shown there
}


@dataclass
class Entry:
    run_id: str
    event_id: int
    time: str
    type: str
    headline: str
    identity: str | None = None
    principal: str | None = None
    actor: str | None = None
    summary: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    workflow_id: str
    workflow_type: str
    runs: list[str]
    entries: list[Entry]
    client_ids: list[str]
    refused: list[Refusal] = field(default_factory=list)
    """Payloads bound to another workflow or namespace (moved in): shown as REFUSED."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self, *, verbose: bool = False) -> str:
        lines = [
            f"workflow {self.workflow_id} ({self.workflow_type}), "
            f"{len(self.runs)} run(s); clients: {', '.join(self.client_ids) or '-'}"
        ]
        lines += [f"REFUSED: run {r.run_id} #{r.event_id}: {r.message}" for r in self.refused]
        run = None
        for e in self.entries:
            if e.type in _QUIET and not verbose:
                continue
            if e.run_id != run:
                run = e.run_id
                lines.append(f"-- run {run}")
            who = [
                f"{k}={v}"
                for k, v in (
                    ("principal", e.principal),
                    ("identity", e.identity),
                    ("actor", e.actor),
                )
                if v
            ]
            lines.append(
                f"{e.time}  #{e.event_id:<4} {e.type:<34} {e.headline}"
                + (f"  [{' '.join(who)}]" if who else "")
            )
        return "\n".join(lines)


def _type_name(event_type: EventType.ValueType) -> str:
    words = EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_")
    return "".join(w.capitalize() for w in words)


# Where our command models name the person behind a command, in order of preference.
ACTOR_FIELDS = ("actor", "by", "approved_by")


def _actor(inputs: Any) -> str | None:
    for value in inputs if isinstance(inputs, list) else [inputs]:
        if not isinstance(value, dict):
            continue
        for name in ACTOR_FIELDS:
            if isinstance(value.get(name), str) and value[name]:
                return str(value[name])
    return None


def _who(attrs: dict[str, Any]) -> str | None:
    identity = attrs.get("identity") or attrs.get("accepted_request", {}).get("meta", {}).get(
        "identity"
    )
    return str(identity) if identity else None


def _inputs(attrs: dict[str, Any]) -> Any:
    request = attrs.get("accepted_request", {}).get("input", {})
    return attrs.get("input", request.get("args"))


def _client_ids(attrs: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    fields = (attrs.get("search_attributes") or {}).get("indexed_fields") or {}
    value = fields.get("ClientId")
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, str) and v:
            found.add(v)
    for arg in _inputs(attrs) or []:
        if isinstance(arg, dict) and isinstance(arg.get("client_id"), str):
            found.add(arg["client_id"])
    return found


async def build(
    runs: Sequence[WorkflowHistory],
    converter: DataConverter,
    reveal: Callable[[Any], Any] | None = None,
    namespace: str | None = None,
) -> Timeline:
    """The timeline of `runs` (oldest first; usually one workflow's continue-as-new chain).

    With `reveal`, the fields sealed under a client's own key are opened (`[erased]` where the
    key was destroyed) before anything is formatted, in one lookup for the whole timeline; the
    clients whose fields it holds are among its clients (the access log names them). With the
    `namespace` the runs were written in, each payload opens only where the SDK bound it (the
    workflow, or the child or signalled workflow its event names); one moved in from elsewhere
    is refused and listed in `refused`."""
    plain = Plain(converter.payload_converter)
    decoded: list[tuple[str, Any, dict[str, Any], Any]] = []
    refused: list[Refusal] = []
    for history in runs:
        if converter.payload_codec is not None and namespace is not None:
            history, refusals = await decode_bound(history, converter.payload_codec, namespace)
            refused += refusals
        elif converter.payload_codec is not None:
            history = await decoded_history(history, converter.payload_codec)
        for event in history.events:
            which = event.WhichOneof("attributes")
            attrs = plain.message(getattr(event, which)) if which else {}
            summary = (
                plain.payload(event.user_metadata.summary)
                if event.user_metadata.HasField("summary")
                else None
            )
            decoded.append((history.run_id, event, attrs, summary))
    client_ids: set[str] = {t.subject for _, _, attrs, _ in decoded for t in tokens_in(attrs)}
    if reveal is not None and client_ids:
        opened = reveal([attrs for _, _, attrs, _ in decoded])
        decoded = [(r, e, a, s) for (r, e, _, s), a in zip(decoded, opened, strict=True)]
    entries: list[Entry] = []
    refs, run = RunRefs(), None
    for run_id, event, attrs, summary in decoded:
        if run_id != run:
            refs, run = RunRefs(), run_id
        kind = _type_name(event.event_type)
        line = headline(refs, kind, event.event_id, attrs, summary)
        principal = (
            f"{event.principal.type}:{event.principal.name}"
            if event.HasField("principal")
            else None
        )
        client_ids |= _client_ids(attrs)
        entries.append(
            Entry(
                run_id=run_id,
                event_id=event.event_id,
                time=event.event_time.ToDatetime().isoformat() + "Z",
                type=kind,
                headline=line,
                identity=_who(attrs),
                principal=principal,
                actor=_actor(_inputs(attrs)),
                summary=summary if isinstance(summary, str) else None,
                attributes=attrs,
            )
        )
    first = runs[0]
    return Timeline(
        workflow_id=first.workflow_id,
        workflow_type=first.events[
            0
        ].workflow_execution_started_event_attributes.workflow_type.name,
        runs=[h.run_id for h in runs],
        entries=entries,
        client_ids=sorted(client_ids),
        refused=refused,
    )
