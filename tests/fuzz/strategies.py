"""Bad input: JSON garbage, and valid bodies bent out of shape one field at a time.

Pure garbage is refused at the first check; the interesting inputs are nearly valid ones (one
field of the wrong type, an unknown enum value, a date in the past, a 70 000-character string,
an extra field), which get past some checks and must still be refused cleanly by a later one
(the command's model, the workflow's validator, the payload converter on the worker).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

# Values a careless or hostile caller sends where something else was expected.
ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\u0000",
        "null",
        "NaN",
        "-1",
        "1e309",
        "../../etc/passwd",
        "'; DROP TABLE complaints; --",
        "客户投诉",
        "🙂" * 3,
        "\u202eRTL",
        "a\nb",
        "complaint-matter:x:y",
        "13800138000",  # a phone number where an opaque id belongs
        "HOTLINE",
        "diamond",
        "critical",
        "gremlins",
        "closed",
        "follow_up",
    ]
)
DATES = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "1900-01-01",
            "1969-12-31T23:59:59Z",
            "2000-02-30",
            "9999-12-31T23:59:59Z",
            "2026-13-01",
            "yesterday",
            "2026-03-01T10:00:00",  # naive
            "2026-03-01T10:00:00+14:00",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
)
HUGE = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["x", "界", "é", "🙂", "\u0000"]),
    st.integers(9000, 70000),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 5, 6, 2**31, 2**63]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, st.text(max_size=40), ODD_STRINGS, DATES, HUGE
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)
GARBAGE_BODIES = st.dictionaries(st.one_of(st.text(max_size=12), ODD_STRINGS), JSON, max_size=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value a mutation can aim at (dict keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _parent(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any], max_changes: int = 3) -> dict[str, Any]:
    """`valid` with up to `max_changes` fields dropped, replaced, or joined by extra ones."""
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, max_changes))):
        paths = _paths(body)
        action = draw(st.sampled_from(["alike", "alike", "replace", "drop", "extra", "wrap"]))
        if action == "extra" or not paths:
            target = draw(st.sampled_from([(), *[p for p in paths if _is_dict(body, p)]]))
            holder = _parent(body, (*target, None))
            holder[draw(st.one_of(st.text(max_size=12), ODD_STRINGS))] = draw(JSON)
            continue
        path = draw(st.sampled_from(paths))
        holder = _parent(body, path)
        if action == "drop":
            del holder[path[-1]]
        elif action == "wrap":  # the right value inside the wrong shape
            holder[path[-1]] = draw(
                st.sampled_from([[holder[path[-1]]], {"value": holder[path[-1]]}])
            )
        elif action == "alike":  # the right type, an odd value: gets past type checks
            holder[path[-1]] = draw(alike(holder[path[-1]]))
        else:
            holder[path[-1]] = draw(JSON)
    return body


def alike(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return NUMBERS.filter(lambda n: isinstance(n, int))
    if isinstance(value, str):
        return st.one_of(ODD_STRINGS, DATES, HUGE, st.text(min_size=1, max_size=80))
    if isinstance(value, list):
        return st.lists(st.one_of(ODD_STRINGS, HUGE, st.text(max_size=20)), max_size=120)
    return JSON


def _is_dict(body: Any, path: tuple[Any, ...]) -> bool:
    for step in path:
        body = body[step]
    return isinstance(body, dict)


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly near-valid bodies, some valid (so the fuzz also drives workflows forward), some
    pure garbage."""
    return st.one_of(mutated(valid), mutated(valid), st.just(valid), GARBAGE_BODIES)


TARGET = "<the target>"
"""Stands for the id of a live workflow in the right state, found when the example runs."""


def ids() -> st.SearchStrategy[str | None]:
    """The command line's ID: mostly a real target, else missing, odd, unknown or huge."""
    return st.one_of(
        st.just(TARGET),
        st.just(TARGET),
        st.just(TARGET),
        st.none(),
        ODD_STRINGS,
        st.text(max_size=70),
        HUGE,
        st.just("no-such-thing-0001"),
    )
