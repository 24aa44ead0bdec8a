"""What the privacy and audit tests read out of the server and out of history documents: when a
namespace's runs have settled, and the JSON value of every readable payload."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from temporalio.client import Client


async def quiet(client: Client, query: str, runs: int) -> None:
    """Until visibility lists `runs` runs and none has an activity in flight, so the live
    tables hold every projection the histories schedule."""
    for _ in range(400):
        listed = [w async for w in client.list_workflows(query)]
        if len(listed) >= runs:
            described = [
                await client.get_workflow_handle(w.id, run_id=w.run_id).describe() for w in listed
            ]
            if not any(d.raw_description.pending_activities for d in described):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{query}: never quiet with {runs} runs")


def decoded_values(doc: Any) -> list[Any]:
    """The JSON value of every json/plain payload in a history (or a codec reply) document."""
    found: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            meta = v.get("metadata")
            if isinstance(meta, dict) and isinstance(v.get("data"), str):
                if base64.b64decode(meta.get("encoding", "")) == b"json/plain":
                    found.append(json.loads(base64.b64decode(v["data"])))
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(doc)
    return found
