"""The supervisor's worklist: its pure parts (order, time left, filters and their queries,
escaping), then the page over real HTTP from the codec server on the real dev server's
visibility: who may see it, what it lists and in which order, and what it records."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from audit.access_chain import verify_chain
from domain.enums import Tier
from domain.policy import Policy
from infra import worklist as worklist_module
from infra.keys import KeyRing
from infra.worklist import (
    ACTION,
    BadRequest,
    ComplaintRow,
    Listing,
    Selection,
    order_complaints,
    render,
    time_left,
    ui_workflow_url,
    visibility_query,
)
from projections.tables import access_log
from tests.helpers.worklist import NOW, TOKEN, UI, Seeded, expected_order, seeded_worklist


def _row(cid: str, deadline: datetime | None, breached: bool = False, **kw: object) -> ComplaintRow:
    fields: dict[str, object] = {
        "workflow_id": f"complaint-{cid}", "run_id": "r1", "complaint_id": cid, "client_id": "c-1",
        "stage": "investigation", "severity": "medium", "category": "fees",
        "department": "ops", "handler": "s-1", "deadline": deadline, "breached": breached,
        "reopen_count": 0,
    } | kw  # fmt: skip
    return ComplaintRow(**fields)  # type: ignore[arg-type]


def test_breached_first_then_by_deadline_none_last() -> None:
    rows = [
        _row("later", NOW + timedelta(days=5)),
        _row("none", None),
        _row("sooner", NOW + timedelta(hours=2)),
        _row("flagged", NOW - timedelta(days=1), breached=True),
        _row("due-already", NOW - timedelta(minutes=5)),  # breach timer not fired yet
        _row("flagged-old", NOW - timedelta(days=4), breached=True),
    ]
    order = [r.complaint_id for r in order_complaints(rows, NOW)]
    assert order == ["flagged-old", "flagged", "due-already", "sooner", "later", "none"]


def test_time_left_reads_as_a_person_would() -> None:
    assert time_left(NOW + timedelta(days=2, hours=3, minutes=59), NOW) == "2 d 3 h"
    assert time_left(NOW + timedelta(hours=5, minutes=7), NOW) == "5 h 7 min"
    assert time_left(NOW + timedelta(minutes=45, seconds=30), NOW) == "45 min"
    assert time_left(NOW - timedelta(days=1, hours=2), NOW) == "overdue 1 d 2 h"
    assert time_left(NOW, NOW) == "overdue 0 min"
    assert time_left(None, NOW) == "–"


def test_filters_that_need_now_get_it_filled_in() -> None:
    policy = Policy()  # callback_grace P7D, warn_before P3D
    duties = visibility_query(
        Selection.parse({"filter": "overdue-duties", "tier": "diamond"}), policy, NOW
    )
    # the README's diamond search, with the cutoff a supervisor would have had to type
    assert duties == (
        "ClientTier='diamond' AND ServiceStatus='active' "
        "AND NextServiceDue < '2026-11-24T08:30:00Z'"
    )
    every = visibility_query(Selection.parse({"filter": "overdue-duties"}), policy, NOW)
    assert every.startswith("WorkflowType='ClientServiceWorkflow' AND ServiceStatus='active'")
    soon = visibility_query(Selection.parse({"filter": "due-soon"}), policy, NOW)
    assert soon.endswith("SlaBreached=false AND SlaDeadline < '2026-12-04T08:30:00Z'")
    dept = visibility_query(
        Selection.parse({"filter": "investigation", "department": "wealth-ops"}), policy, NOW
    )
    assert dept == (
        "WorkflowType='ComplaintWorkflow' AND ExecutionStatus='Running' AND "
        "ComplaintStage='investigation' AND ResponsibleDepartment='wealth-ops'"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "everything"},
        {"department": "x' OR 'a'='a"},  # would change the visibility query
        {"filter": "overdue-duties", "advisor": "<script>"},
        {"filter": "overdue-duties", "tier": "bronze"},
        {"filter": "open", "tier": "diamond"},
        {"filter": "overdue-duties", "department": "ops"},
        {"sort": "name"},
    ],
)
def test_parameters_outside_the_filters_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(BadRequest) as err:
        Selection.parse(params)
    for value in params.values():
        if value not in ("open", "overdue-duties"):
            assert value not in str(err.value)  # named, never echoed


def test_every_value_on_the_page_is_escaped() -> None:
    row = _row("x<1>", NOW, handler='<img src=x onerror="alert(1)">', department="d&d")
    page = render(
        Selection.parse({}), Listing([row], 1, False), "q<'>", Policy(), NOW, "default", UI
    )
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "x&lt;1&gt;" in page and "d&amp;d" in page and "q&lt;&#x27;&gt;" in page
    assert "<script" not in page


def test_rows_link_to_the_workflow_in_the_temporal_ui() -> None:
    url = ui_workflow_url("http://localhost:8233/", "default", "complaint-A/1", "run-9")
    assert url == "http://localhost:8233/namespaces/default/workflows/complaint-A%2F1/run-9/history"


# --- over HTTP, on the dev server ------------------------------------------------------------


@pytest.fixture
async def seeded(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[Seeded]:
    async with seeded_worklist(dev_env.client, db, keyring, policy) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def _listed(page: str, table: str) -> list[tuple[str, str]]:
    body = page.split(f'<table id="{table}">', 1)[1]
    return re.findall(r'<tr(?: class="[a-z]+")? data-workflow-id="([^"]+)"([^>]*)>', body)


def _access_rows(db: Engine) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(select(access_log).order_by(access_log.c.chain_seq)).mappings()
        return [dict(r) for r in rows]


async def _sign_in(http: aiohttp.ClientSession, seeded: Seeded) -> None:
    async with http.post(seeded.server.make_url("/login"), data={"token": TOKEN}) as resp:
        assert resp.status == 200
        assert "worklist" in await resp.text()  # the signed-in page links to it


async def test_only_signed_in_people_see_it_and_nothing_is_recorded_for_others(
    seeded: Seeded, http: aiohttp.ClientSession, db: Engine
) -> None:
    url = seeded.server.make_url("/worklist")
    async with http.get(url) as resp:
        assert resp.status == 401
        page = await resp.text()
    assert "sign in" in page and seeded.run not in page
    async with http.get(url, headers={"Authorization": "Bearer not-the-token"}) as resp:
        assert resp.status == 401
    async with http.get(url, cookies={"cc_codec_session": "99999999999.forged"}) as resp:
        assert resp.status == 401
    assert _access_rows(db) == []


async def test_open_complaints_breached_first_with_what_a_supervisor_needs(
    seeded: Seeded, http: aiohttp.ClientSession, db: Engine
) -> None:
    await _sign_in(http, seeded)
    params = {"filter": "open", "department": seeded.department}
    async with http.get(seeded.server.make_url("/worklist"), params=params) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    rows = _listed(page, "complaints")
    assert [wid for wid, _ in rows] == expected_order(seeded.run)
    assert [('data-breached="true"' in rest) for _, rest in rows] == [
        True,
        True,
        False,
        False,
        False,
    ]
    b = page.split(f'data-workflow-id="complaint-wl-{seeded.run}-b"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(.*?)</td>", b)
    # the deadline in the firm's zone (08:30Z - 3 days = 16:30 in Shanghai), the time left,
    # the handler from the read model
    assert "2026-11-28 16:30" in cells and "overdue 3 d 0 h" in cells and "s-b" in cells
    assert "investigation" in cells and "high" in cells and "fees" in cells
    assert f"/namespaces/default/workflows/complaint-wl-{seeded.run}-b/" in b
    assert "deadline (Asia/Shanghai)" in page
    assert "&lt;b&gt;s-d&lt;/b&gt;" in page and "<b>s-d</b>" not in page

    # recorded before it was returned: the view, then every workflow it listed, each with
    # its client, by this session; the chain still verifies
    trail = _access_rows(db)
    assert {r["action"] for r in trail} == {ACTION}
    actors = {r["actor"] for r in trail}
    assert len(actors) == 1 and str(actors.pop()).startswith("codec:session:")
    assert trail[0]["workflow_id"] is None and "5 shown of 5" in str(trail[0]["purpose"])
    assert [r["workflow_id"] for r in trail[1:]] == expected_order(seeded.run)
    assert {r["client_id"] for r in trail[1:]} == {f"cl-{seeded.run}"}
    assert all(f"department={seeded.department}" in str(r["purpose"]) for r in trail)
    assert verify_chain(db).ok


async def test_saved_search_filters(seeded: Seeded, http: aiohttp.ClientSession) -> None:
    await _sign_in(http, seeded)
    run, dept = seeded.run, seeded.department

    async def ids(filter_: str) -> list[str]:
        params = {"filter": filter_, "department": dept}
        async with http.get(seeded.server.make_url("/worklist"), params=params) as resp:
            assert resp.status == 200
            return [wid for wid, _ in _listed(await resp.text(), "complaints")]

    assert await ids("breached") == [f"complaint-wl-{run}-b"]  # the flag, as the README's
    assert await ids("investigation-breached") == [f"complaint-wl-{run}-b"]
    assert await ids("investigation") == [f"complaint-wl-{run}-{x}" for x in "bad"]
    assert await ids("high-critical") == [f"complaint-wl-{run}-{x}" for x in "bd"]
    assert await ids("reopened") == [f"complaint-wl-{run}-d"]
    # deadline within warn_before (3 days) and not breached: a (2 days) and c (due an hour
    # ago, not yet flagged: shown, first, as late)
    assert await ids("due-soon") == [f"complaint-wl-{run}-{x}" for x in "ca"]


async def test_overdue_duties_by_advisor_without_typing_a_date(
    seeded: Seeded, http: aiohttp.ClientSession, db: Engine
) -> None:
    await _sign_in(http, seeded)
    url = seeded.server.make_url("/worklist")
    run = seeded.run

    async def ids(**params: str) -> tuple[list[str], str]:
        async with http.get(url, params={"filter": "overdue-duties", **params}) as resp:
            assert resp.status == 200
            page = await resp.text()
        return [wid for wid, _ in _listed(page, "duties")], page

    mine, page = await ids(advisor=seeded.advisor)
    # c4 is due 3 days ago, inside the 7-day grace: not overdue; the longest overdue first
    assert mine == [f"client-wl-{run}-c2", f"client-wl-{run}-c1"]
    assert "2026-11-19 16:30" in page  # c1's due date, in the firm's zone
    diamond, page = await ids(tier="diamond", advisor=seeded.advisor)
    assert diamond == [f"client-wl-{run}-c1"]
    assert "NextServiceDue &lt; &#x27;2026-11-24T08:30:00Z&#x27;" in page  # the query it ran
    other, _ = await ids(tier=Tier.DIAMOND.value, advisor=seeded.other_advisor)
    assert other == [f"client-wl-{run}-c3"]
    # every tier, every advisor: ours among whatever else the shared dev server holds, grouped
    every, page = await ids()
    ours = [w for w in every if f"wl-{run}-" in w]
    assert ours == [f"client-wl-{run}-{x}" for x in ("c2", "c1", "c3")]
    assert f'advisor={seeded.advisor}"' in page.replace("&amp;", "&")
    nobody, page = await ids(advisor=f"adv-{run}-none")
    assert nobody == [] and "Nothing overdue." in page
    trail = _access_rows(db)
    assert trail[-1]["workflow_id"] is None  # an empty view is on record too
    assert f"advisor=adv-{run}-none" in str(trail[-1]["purpose"])
    assert "0 shown of 0" in str(trail[-1]["purpose"])
    trail = [r for r in trail if r["workflow_id"] == f"client-wl-{run}-c1"]
    assert trail and all(r["client_id"] == f"wl-{run}-c1" for r in trail)
    assert verify_chain(db).ok


async def test_a_view_that_cannot_be_recorded_is_not_shown(
    seeded: Seeded, http: aiohttp.ClientSession, db: Engine
) -> None:
    await _sign_in(http, seeded)
    with db.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE access_log ADD CONSTRAINT wl_refuse CHECK (false) NOT VALID"
        )
    try:
        params = {"department": seeded.department}
        async with http.get(seeded.server.make_url("/worklist"), params=params) as resp:
            assert resp.status == 503
            page = await resp.text()
        assert seeded.run not in page and "nothing is shown" in page
    finally:
        with db.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE access_log DROP CONSTRAINT wl_refuse")
    assert _access_rows(db) == []


async def test_the_bearer_token_works_too_and_a_bad_filter_is_refused(
    seeded: Seeded, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = seeded.server.make_url("/worklist")
    async with http.get(url, params={"department": seeded.department}, headers=auth) as resp:
        assert resp.status == 200
    async with http.get(url, params={"filter": "<x>"}, headers=auth) as resp:
        assert resp.status == 400
        assert "<x>" not in await resp.text()
    async with http.post(url, headers=auth) as resp:
        assert resp.status == 405


def test_policy_time_zone_is_the_one_shown() -> None:
    policy = Policy.model_validate({"timezone": "Europe/Berlin"})
    row = _row("z", datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    page = render(Selection.parse({}), Listing([row], 1, False), "q", policy, NOW, "default", UI)
    assert "deadline (Europe/Berlin)" in page and "2026-12-01 13:00" in page


async def test_a_long_list_says_how_many_matched_and_what_its_order_covers(
    seeded: Seeded, http: aiohttp.ClientSession, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worklist_module, "FETCHED", 3)
    monkeypatch.setattr(worklist_module, "SHOWN", 2)
    await _sign_in(http, seeded)
    params = {"department": seeded.department}
    async with http.get(seeded.server.make_url("/worklist"), params=params) as resp:
        page = await resp.text()
    assert len(_listed(page, "complaints")) == 2
    assert 'data-shown="2" data-matched="5"' in page and "2 listed of 5 matching" in page
    assert "More than 3 match" in page
    trail = _access_rows(db)
    assert len(trail) == 3 and "2 shown of 5" in str(trail[0]["purpose"])
