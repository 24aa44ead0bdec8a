"""Every `starter.py` command, through its importable function, with bad input: the answer is
success or a clear refusal, never an escaping exception or a hang (see `tests/fuzz/rig.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.rig import FuzzRig
from tests.fuzz.specs import COMMANDS, Spec
from tests.fuzz.strategies import GARBAGE_BODIES, JSON, TARGET, bodies, ids, mutated

FUZZ = settings(
    max_examples=40,
    deadline=None,
    # No shrinking: each step would run live workflows again; the failing example is printed.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# `demo load` with valid counts loads that many clients and complaints; its fuzz keeps valid
# counts tiny and spends the rest on what must be refused.
DEMO_COUNTS = st.one_of(
    st.integers(1, 3),
    st.integers(max_value=0),
    st.integers(min_value=100_001),
    st.floats(max_value=3.9) | st.sampled_from([float("inf"), float("-inf"), float("nan")]),
    st.text(max_size=8).filter(lambda t: not t.strip().lstrip("+-").isdigit()),
    st.none(),
    st.lists(JSON, max_size=2),
)
# Both counts always given: without them the demo loads its full size (240 clients).
DEMO_BODIES = st.fixed_dictionaries(
    {"clients": DEMO_COUNTS, "complaints": DEMO_COUNTS}, optional={"seed": JSON}
)
# `demo year` always with a client count it must refuse, before it touches any database.
YEAR_BODIES = st.fixed_dictionaries(
    {
        "clients": st.one_of(
            st.integers(max_value=0),
            st.integers(min_value=5_001),
            st.sampled_from([float("inf"), float("-inf"), float("nan")]),
            st.text(max_size=8).filter(lambda t: not t.strip().lstrip("+-").isdigit()),
            st.none(),
            st.lists(JSON, max_size=2),
        ),
        "complaints": DEMO_COUNTS,
    },
    optional={"seed": JSON, "out_dir": st.just("/nonexistent/never-written")},
)


def body_strategy(spec: Spec) -> st.SearchStrategy[dict[str, Any]]:
    if (spec.noun, spec.verb) == ("demo", "load"):
        return DEMO_BODIES
    if (spec.noun, spec.verb) == ("demo", "year"):
        return YEAR_BODIES
    return (
        bodies(spec.body)
        if spec.body
        else st.one_of(st.just({}), GARBAGE_BODIES, mutated({"x": 1}))
    )


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
async def test_a_command_answers_or_refuses_clearly(
    rig: FuzzRig, spec: Spec, data: st.DataObject
) -> None:
    ident = data.draw(ids(), label="id") if spec.role else data.draw(st.none() | ids(), label="id")
    body = data.draw(body_strategy(spec), label="body")
    answer = await rig.run(spec.noun, spec.verb, ident, body, spec.role)
    if answer is not None and spec.moves and ident == TARGET and spec.role:
        rig.retire(spec.role)
