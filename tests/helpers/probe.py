"""A workflow that upserts every contract search attribute once."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa

_SAMPLE: dict[type, object] = {
    str: "x",
    datetime: datetime(2027, 1, 1, tzinfo=UTC),
    bool: True,
    int: 1,
}


@workflow.defn
class SearchAttributeProbe:
    @workflow.run
    async def run(self) -> int:
        updates: list[SearchAttributeUpdate] = []
        for key in sa.ALL:
            updates.append(key.value_set(_SAMPLE[key.origin_value_type]))  # type: ignore[arg-type]
        workflow.upsert_search_attributes(updates)
        return len(workflow.info().typed_search_attributes)
