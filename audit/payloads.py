"""Finds every Payload inside a history's protobuf, so the codec can open all of them at once.

Payloads sit in many places (inputs, results, headers, memos, failure attributes, update
requests, markers); walking the message descriptors finds them all, including in event types
added by later server versions, without a list that would go stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import (
    PayloadCodec,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from infra.codec import ENCODING
from infra.keys import KeyRingError

_PAYLOAD = Payload.DESCRIPTOR.full_name


def _children(fd: FieldDescriptor, value: Any) -> Iterator[Message]:
    entry = fd.message_type
    if entry is None:
        return
    if entry.GetOptions().map_entry:
        if entry.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
            yield from value.values()
    elif fd.is_repeated:
        yield from value
    else:
        yield value


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload in `message`, as the live objects inside it (so they can be replaced)."""
    for fd, value in message.ListFields():
        for child in _children(fd, value):
            if child.DESCRIPTOR.full_name == _PAYLOAD:
                yield child  # type: ignore[misc]
            else:
                yield from payloads_in(child)


async def decode_events(events: Sequence[HistoryEvent], codec: PayloadCodec) -> None:
    """Decrypts every encrypted payload of `events` in place, in one codec call. Payloads the
    codec never saw (search attributes never go through a codec) are left as they are, rather
    than handed to a codec that rightly refuses plaintext."""
    found = [p for event in events for p in payloads_in(event) if _encrypted(p)]
    if not found:
        return
    for payload, plain in zip(found, await codec.decode(found), strict=True):
        payload.CopyFrom(plain)


# Events whose payloads the SDK binds to another workflow than the history's own: what a
# parent holds of its children, and what it signalled to another workflow (infra.codec).
_CHILD_BY_ID = {"start_child_workflow_execution_initiated_event_attributes"}
_OTHER_BY_EXECUTION = {
    "child_workflow_execution_started_event_attributes",
    "child_workflow_execution_completed_event_attributes",
    "child_workflow_execution_failed_event_attributes",
    "child_workflow_execution_canceled_event_attributes",
    "child_workflow_execution_timed_out_event_attributes",
    "child_workflow_execution_terminated_event_attributes",
    "signal_external_workflow_execution_initiated_event_attributes",
}
REFUSED = "[refused: ciphertext of another workflow]"


def bound_workflow(event: HistoryEvent, workflow_id: str) -> str:
    """The workflow id an event's payloads were written for, in the history of `workflow_id`."""
    which = event.WhichOneof("attributes")
    if which in _CHILD_BY_ID:
        return str(getattr(event, which).workflow_id) or workflow_id
    if which in _OTHER_BY_EXECUTION:
        return str(getattr(event, which).workflow_execution.workflow_id) or workflow_id
    return workflow_id


@dataclass(frozen=True)
class Refusal:
    """A payload of the history that its codec, bound as the worker's was, refused."""

    run_id: str
    event_id: int
    message: str


async def decode_bound(
    history: WorkflowHistory, codec: PayloadCodec, namespace: str
) -> tuple[WorkflowHistory, list[Refusal]]:
    """A copy of `history` with plaintext payloads, each opened by the codec bound to the place
    the SDK bound it to (the workflow, or the child or signalled workflow an event names), as
    the workers that read them did: a payload moved in from elsewhere is refused, shown as
    `REFUSED` and named in the refusals, rather than opened."""
    if not isinstance(codec, WithSerializationContext):
        return await decoded_history(history, codec), []
    twin = copied(history)
    refusals: list[Refusal] = []
    for event in twin.events:
        found = [p for p in payloads_in(event) if _encrypted(p)]
        if not found:
            continue
        place = WorkflowSerializationContext(namespace, bound_workflow(event, twin.workflow_id))
        bound = codec.with_context(place)
        for payload in found:
            try:
                [plain] = await bound.decode([payload])
            except KeyRingError as err:
                refusals.append(Refusal(twin.run_id, event.event_id, str(err)))
                plain = Payload(
                    metadata={"encoding": b"json/plain"}, data=json.dumps(REFUSED).encode()
                )
            payload.CopyFrom(plain)
    return twin, refusals


def copied(history: WorkflowHistory) -> WorkflowHistory:
    """A deep copy: the protobuf events are mutable and may be shared with the caller."""
    events = []
    for event in history.events:
        twin = HistoryEvent()
        twin.CopyFrom(event)
        events.append(twin)
    return WorkflowHistory(history.workflow_id, events)


async def decoded_history(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """A copy of `history` with plaintext payloads; the original is left as fetched."""
    twin = copied(history)
    await decode_events(twin.events, codec)
    return twin


def _encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


def is_encrypted(history: WorkflowHistory) -> bool:
    """Whether any payload of `history` is still encrypted (a raw export, not a saved copy)."""
    return any(_encrypted(p) for e in history.events for p in payloads_in(e))
