"""The scanner itself finds what it is meant to find (so an empty result means something)."""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.history.v1 import History, HistoryEvent

from tests.security.pii_scan import find_secrets, scan_history, unencrypted_payloads


def _plain(value: object, ensure_ascii: bool = False) -> Payload:
    data = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def _history(*payloads: Payload, search_attribute: Payload | None = None) -> History:
    event = HistoryEvent(event_id=1)
    started = event.workflow_execution_started_event_attributes
    started.input.CopyFrom(Payloads(payloads=list(payloads)))
    if search_attribute is not None:
        started.search_attributes.CopyFrom(
            SearchAttributes(indexed_fields={"ClientId": search_attribute})
        )
    return History(events=[event])


def test_plaintext_payloads_and_secrets_in_every_form_are_found() -> None:
    history = _history(
        _plain({"name": "王小明"}, ensure_ascii=True),  # written as \u738b\u5c0f\u660e
        _plain("tel 13812345678"),
        search_attribute=_plain("11010519491231002X"),
    )
    found = scan_history(history, ["王小明", "+86 138-1234-5678", "11010519491231002X"])
    assert {(f.secret, f.form) for f in found} == {
        (0, "json-escaped"),
        (1, "normalised"),
        (2, "utf-8"),
    }
    assert all("王小明" not in str(f) for f in found)  # the report names secrets by index
    # search attributes are plain by contract: listed by the byte scan, not as unencrypted
    assert unencrypted_payloads(history) == [
        "events[0].workflow_execution_started_event_attributes.input.payloads[0]",
        "events[0].workflow_execution_started_event_attributes.input.payloads[1]",
    ]


def test_too_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 6 bytes"):
        find_secrets(b"", ["Li"], "x")


def test_a_patch_marker_is_exempt_only_while_it_holds_a_patch_id() -> None:
    def marker(value: object) -> History:
        event = HistoryEvent(event_id=5)
        recorded = event.marker_recorded_event_attributes
        recorded.marker_name = "core_patch"
        recorded.details["patch-data"].CopyFrom(Payloads(payloads=[_plain(value)]))
        return History(events=[event])

    patch = {"id": "complaint-acknowledge-while-projecting", "deprecated": False}
    assert unencrypted_payloads(marker(patch)) == []
    assert unencrypted_payloads(marker({**patch, "name": "Li Lei"})) == [
        "events[0].marker_recorded_event_attributes.details[patch-data].payloads[0]"
    ]
