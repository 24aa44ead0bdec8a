"""Finds every Payload inside a history's protobuf, so the codec can open all of them at once.

Payloads sit in many places (inputs, results, headers, memos, failure attributes, update
requests, markers); walking the message descriptors finds them all, including in event types
added by later server versions, without a list that would go stale.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

from infra.codec import ENCODING

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
