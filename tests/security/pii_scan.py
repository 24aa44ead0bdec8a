"""Looks for personal data where it must never be in clear: histories, visibility, logs.

Reusable for any workflow: `await scan_workflow(client, workflow_id, secrets)` returns what it
found (an empty list is the pass), looking at every run's raw history bytes, the description
(memo, search attributes, user metadata) and the workflow id; `unencrypted_payloads(history)`
lists every payload in a history that is not ciphertext, search attributes excepted (they are
plain by contract, so the scan of the raw bytes covers them).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.client import Client

from infra.codec import EncryptionCodec
from projections.crypto import normalise


@dataclass(frozen=True)
class Finding:
    where: str
    secret: int  # index into the secrets list: a failing test must not print the secret either
    form: str  # "utf-8", "json-escaped", "compact" or "normalised"

    def __str__(self) -> str:
        return f"secret #{self.secret} found in {self.where} ({self.form})"


def secret_forms(secret: str) -> list[tuple[str, bytes]]:
    """The byte strings one secret can appear as: UTF-8, JSON with \\u escapes (what
    `ensure_ascii` writes for Chinese), a number without its spaces and dashes, and the
    blind-index normal form (a mainland mobile without its +86)."""
    forms = {("utf-8", secret.encode())}
    escaped = json.dumps(secret)[1:-1].encode()
    if escaped != secret.encode():
        forms.add(("json-escaped", escaped))
    compact = re.sub(r"[\s\-]", "", secret)
    if compact != secret and len(compact) >= 6:
        forms.add(("compact", compact.encode()))
    normal = normalise(secret)  # e.g. a phone without +86, as lookups and people write it
    if normal not in (secret, compact) and len(normal.encode()) >= 6:
        forms.add(("normalised", normal.encode()))
    return sorted(forms)


def find_secrets(blob: bytes, secrets: Sequence[str], where: str) -> list[Finding]:
    if any(len(s.encode()) < 6 for s in secrets):
        raise ValueError("secrets shorter than 6 bytes would match ciphertext by chance")
    found: list[Finding] = []
    for i, secret in enumerate(secrets):
        for form, needle in secret_forms(secret):
            if needle in blob:
                found.append(Finding(where, i, form))
    return found


def scan_history(history: History, secrets: Sequence[str], where: str = "history") -> list[Finding]:
    return find_secrets(history.SerializeToString(), secrets, where)


def iter_messages(message: Message, path: str = "") -> Iterator[tuple[str, Message]]:
    """Every sub-message of a protobuf message with its field path, depth first."""
    yield path, message
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        if field.type != field.TYPE_MESSAGE or field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from iter_messages(item, f"{name}[{key}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from iter_messages(item, f"{name}[{i}]")
        else:
            yield from iter_messages(value, name)


def iter_payloads(message: Message) -> Iterator[tuple[str, Payload]]:
    for path, sub in iter_messages(message):
        if isinstance(sub, Payload):
            yield path, sub


def iter_failures(message: Message) -> Iterator[tuple[str, Failure]]:
    for path, sub in iter_messages(message):
        if isinstance(sub, Failure):
            yield path, sub


PATCH_MARKER = ".marker_recorded_event_attributes.details[patch-data]."


def patch_marker(path: str, payload: Payload) -> bool:
    """A `workflow.patched` marker's data, which the SDK's core writes itself, outside the payload
    codec: the patch id and whether it is deprecated, a name from our code and nothing else."""
    if PATCH_MARKER not in path:
        return False
    try:
        data = json.loads(payload.data)
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) <= {"id", "deprecated"}


def unencrypted_payloads(message: Message) -> list[str]:
    return [
        path
        for path, payload in iter_payloads(message)
        if ".search_attributes." not in path
        and not EncryptionCodec.is_encrypted(payload)
        and not patch_marker(path, payload)
    ]


async def scan_workflow(client: Client, workflow_id: str, secrets: Sequence[str]) -> list[Finding]:
    """Every run of the workflow (continue-as-new included): histories and descriptions."""
    found = find_secrets(workflow_id.encode(), secrets, "workflow id")
    runs = []
    for _ in range(50):  # visibility is eventually consistent
        runs = [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if runs:
            break
        await asyncio.sleep(0.1)
    else:
        raise LookupError(f"no runs of {workflow_id} are visible")
    for run in runs:
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        history = await handle.fetch_history()
        where = f"history of run {run.run_id}"
        found += scan_history(History(events=history.events), secrets, where)
        described = await handle.describe()
        blob = described.raw_description.SerializeToString()
        found += find_secrets(blob, secrets, f"description of run {run.run_id}")
    return found


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The process's log output as the real configuration renders it (JSON lines), in a buffer.

    Runs `infra.logging.configure_logging` itself and restores the root logger afterwards, so
    the redaction under test is the one production uses.
    """
    import infra.logging as app_logging

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_flag = app_logging._configured
    buffer = io.StringIO()
    app_logging._configured = False
    try:
        app_logging.configure_logging(fmt="json")
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(buffer)
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        app_logging._configured = saved_flag
