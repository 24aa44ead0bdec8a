"""The data-subject request's rules, pure: its deadline counts like a complaint's (the day of
receipt not counted, ending at 24:00 local), answers are final, overdue is once and for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import subject_request as sr
from domain.periods import Period
from domain.policy import Policy, PrivacyPolicy
from domain.subject_request import RejectionReason, SealedCopy, SubjectRequestKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
COPY = SealedCopy(path="/x/r-1.sealed", sha256="0" * 64, size=10, sections={"client": 1})


def _request(kind: SubjectRequestKind = SubjectRequestKind.ACCESS) -> sr.SubjectRequest:
    received = datetime(2027, 3, 1, 14, 0, tzinfo=SHANGHAI)
    return sr.acknowledge(sr.receive("r-1", "c-1", kind, received, Policy()), received)


def test_fifteen_days_from_receipt_end_at_local_midnight_after_the_last_day() -> None:
    r = _request()
    assert r.due_at == datetime(2027, 3, 17, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert r.status is sr.SubjectRequestStatus.OPEN


def test_a_test_period_in_seconds_is_exact() -> None:
    policy = Policy(privacy=PrivacyPolicy(subject_request_within=Period.parse("PT20S")))
    at = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
    assert sr.request_due(at, policy) == at + timedelta(seconds=20)


def test_an_access_request_is_fulfilled_by_its_copy_and_answered_once() -> None:
    r = _request()
    with pytest.raises(sr.SubjectRequestError, match="by its copy"):
        sr.fulfil(r, r.received_at, "dpo-1")
    done = sr.fulfil(r, r.received_at, "dpo-1", COPY)
    assert done.status is sr.SubjectRequestStatus.FULFILLED and done.sealed_copy == COPY
    with pytest.raises(sr.SubjectRequestError, match="already answered"):
        sr.reject(done, r.received_at, "dpo-1", RejectionReason.UNFOUNDED)


def test_nothing_to_correct_answers_corrections_only() -> None:
    with pytest.raises(sr.SubjectRequestError, match="correction requests only"):
        sr.reject(_request(), datetime.now(UTC), "dpo-1", RejectionReason.NOTHING_TO_CORRECT)
    correction = _request(SubjectRequestKind.CORRECTION)
    rejected = sr.reject(correction, datetime.now(UTC), "dpo-1", RejectionReason.NOTHING_TO_CORRECT)
    assert rejected.rejection is RejectionReason.NOTHING_TO_CORRECT


def test_overdue_only_after_the_deadline_once_and_still_open() -> None:
    r = _request()
    with pytest.raises(sr.SubjectRequestError, match="has not passed"):
        sr.mark_overdue(r, r.due_at - timedelta(seconds=1), "privacy-officer")
    late = sr.mark_overdue(r, r.due_at, "privacy-officer")
    assert late.overdue and late.is_open and late.escalated_to == "privacy-officer"
    with pytest.raises(sr.SubjectRequestError):
        sr.mark_overdue(late, late.due_at, "privacy-officer")
