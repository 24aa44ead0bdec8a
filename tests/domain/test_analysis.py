"""Complaint analysis by type, cause, channel and local peak period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from domain.analysis import analyse_complaints
from domain.kpi import ComplaintFact

SHANGHAI = ZoneInfo("Asia/Shanghai")


def fact(
    i: int, at: datetime, channel: str, category: str | None, cause: str | None
) -> ComplaintFact:
    return ComplaintFact(
        complaint_id=f"k{i}",
        client_id=f"c{i}",
        channel=channel,
        received_at=at,
        category=category,
        root_cause=cause,
    )


def test_counts_by_category_cause_and_channel_most_frequent_first() -> None:
    at = datetime(2027, 3, 3, 2, tzinfo=UTC)
    facts = [
        fact(1, at, "hotline", "fees", "pricing"),
        fact(2, at, "email", "service", "training"),
        fact(3, at, "hotline", "service", "training"),
        fact(4, at, "branch", None, None),
    ]
    result = analyse_complaints(facts, SHANGHAI)
    assert result.total == 4
    assert list(result.by_category.items()) == [("service", 2), ("fees", 1), ("unassessed", 1)]
    assert list(result.by_cause.items()) == [("training", 2), ("pricing", 1), ("unknown", 1)]
    assert list(result.by_channel.items()) == [("hotline", 2), ("branch", 1), ("email", 1)]


def test_peaks_are_local_hour_weekday_and_month() -> None:
    # 01:30 UTC on Sunday 28 Feb 2027 is 09:30 on Sunday in Shanghai; 16:30 UTC on Sunday is
    # already Monday 00:30 locally.
    facts = [
        fact(1, datetime(2027, 2, 28, 1, 30, tzinfo=UTC), "hotline", "fees", None),
        fact(2, datetime(2027, 3, 1, 1, 45, tzinfo=UTC), "hotline", "fees", None),
        fact(3, datetime(2027, 2, 28, 16, 30, tzinfo=UTC), "online", "fees", None),
    ]
    result = analyse_complaints(facts, SHANGHAI)
    assert result.by_hour[9] == 2 and result.by_hour[0] == 1
    assert result.peak_hour == 9
    assert result.by_weekday == (2, 0, 0, 0, 0, 0, 1)
    assert result.peak_weekday == "Mon"
    assert result.peak_month == 3  # two of the three fall in March locally
    assert result.as_json()["by_weekday"] == {
        "Mon": 2, "Tue": 0, "Wed": 0, "Thu": 0, "Fri": 0, "Sat": 0, "Sun": 1
    }  # fmt: skip


def test_nothing_to_analyse_has_no_peaks() -> None:
    result = analyse_complaints([], SHANGHAI)
    assert result.total == 0 and result.by_category == {}
    assert (result.peak_hour, result.peak_weekday, result.peak_month) == (None, None, None)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 24 * 365),
            st.sampled_from(["hotline", "email", "online", "branch"]),
            st.one_of(st.none(), st.sampled_from(["fees", "service", "product"])),
        ),
        max_size=60,
    )
)
def test_every_breakdown_adds_up_to_the_total(rows: list[tuple[int, str, str | None]]) -> None:
    base = datetime(2027, 1, 1, tzinfo=UTC)
    facts = [
        fact(i, base + timedelta(hours=h), ch, cat, cat) for i, (h, ch, cat) in enumerate(rows)
    ]
    result = analyse_complaints(facts, SHANGHAI)
    for breakdown in (result.by_category, result.by_cause, result.by_channel):
        assert sum(breakdown.values()) == result.total == len(rows)
    for buckets in (result.by_hour, result.by_weekday, result.by_month):
        assert sum(buckets) == len(rows)
    if rows:
        assert result.peak_hour is not None
        assert result.by_hour[result.peak_hour] == max(result.by_hour)
