"""The HTML report and its CSV files, from the hand-worked month in `seed.py`."""

from __future__ import annotations

import asyncio
import base64
import csv
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import Engine

from commands.base import CommandContext, CommandError
from commands.report import build as build_command
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from reports.build import ReportFiles, build_report
from tests.reports.seed import SHANGHAI, Y, seed_march

POLICY = Policy()
MARCH = ReportingPeriod.parse(f"{Y}-03", POLICY.zone())
REPORTED_ON = datetime(Y, 4, 2, 9, tzinfo=SHANGHAI)
CHARTS = {
    "complaints_by_category", "complaints_by_cause", "complaints_by_channel",
    "complaints_by_hour", "complaints_by_weekday", "resolution_times", "deadline_compliance",
    "satisfaction_trend", "callbacks_by_tier", "callbacks_by_advisor", "tier_distribution",
    "tier_movements", "appraisal_scores",
}  # fmt: skip
TABLES = CHARTS - {"appraisal_scores"} | {"kpi_summary", "kpi_scores", "improvement_measures"}
TABLES |= {"regulator_return", "regulator_complaints"}
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.charts: list[str] = []
        self.tables: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        elif tag == "figure" and "data-chart" in a:
            self.charts.append(a["data-chart"])
        elif tag == "table":
            self.tables.append(a.get("data-table", ""))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def read_csv(files: ReportFiles, name: str) -> list[list[str]]:
    path = next(p for p in files.csv if p.name == f"{name}.csv")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture
def march(db: Engine, tmp_path: Path) -> ReportFiles:
    seed_march(db)
    return build_report(db, MARCH, tmp_path / "out", POLICY, now=REPORTED_ON, language="en")


def test_every_chart_is_an_embedded_png(march: ReportFiles) -> None:
    page = parse(march.html)
    assert sorted(page.charts) == sorted(CHARTS)
    assert len(page.images) == len(CHARTS)
    for img in page.images:
        prefix, _, data = img["src"].partition(",")
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data).startswith(PNG)
        assert img["alt"]  # the chart's title, for screen readers and a broken image
    assert {"kpi_scores", "improvement_measures", "deadline_compliance"} <= set(page.tables)
    assert f"Client care report {Y}-03" in march.html.read_text(encoding="utf-8")


def test_complaint_tables_hold_the_seeded_figures(march: ReportFiles) -> None:
    assert read_csv(march, "complaints_by_category") == [
        ["category", "complaints"], ["fees", "3"], ["service", "2"]
    ]  # fmt: skip
    assert read_csv(march, "complaints_by_cause") == [
        ["root_cause", "complaints"], ["pricing", "2"], ["unknown", "2"], ["training", "1"]
    ]  # fmt: skip
    assert read_csv(march, "complaints_by_channel")[1:] == [
        ["hotline", "3"], ["email", "1"], ["online", "1"]
    ]  # fmt: skip
    hours = dict(read_csv(march, "complaints_by_hour")[1:])
    assert (hours["9"], hours["10"], hours["14"], sum(map(int, hours.values()))) == (
        "3",
        "1",
        "1",
        5,
    )
    assert read_csv(march, "resolution_times")[1:] == [
        ["k1", "ops", "6.0", "True"], ["k2", "ops", "20.0", "False"]
    ]  # fmt: skip
    assert read_csv(march, "deadline_compliance")[1:] == [
        ["it", "1", "0", "0.0"], ["ops", "2", "1", "0.5"], ["all", "3", "1", "0.3333"]
    ]  # fmt: skip


def test_service_tier_and_staff_tables_hold_the_seeded_figures(march: ReportFiles) -> None:
    assert read_csv(march, "callbacks_by_tier")[1:] == [
        ["diamond", "2", "1", "0.5"], ["platinum", "0", "0", ""],
        ["gold", "1", "1", "1.0"], ["regular", "1", "0", "0.0"],
    ]  # fmt: skip
    assert read_csv(march, "callbacks_by_advisor")[1:] == [
        ["adv-a", "1", "1", "1.0"], ["adv-b", "3", "1", "0.3333"]
    ]  # fmt: skip
    assert read_csv(march, "tier_distribution")[1:] == [
        ["diamond", "1"], ["platinum", "1"], ["gold", "1"], ["regular", "1"]
    ]  # fmt: skip
    assert read_csv(march, "tier_movements")[1:] == [
        ["gold", "platinum", "up", "1"], ["gold", "regular", "down", "1"]
    ]  # fmt: skip
    trend = read_csv(march, "satisfaction_trend")
    assert len(trend) == 1 + 12 and trend[-1] == [f"{Y}-03", "3", "2", "0.6667", "2", "1", "0.5"]
    assert all(row[1] == "0" for row in trend[1:-1])
    measures = read_csv(march, "improvement_measures")
    assert [(r[0], r[6]) for r in measures[1:]] == [("m2", "done"), ("m1", "open")]


def test_scores_table_has_every_scope_with_its_appraisal(march: ReportFiles) -> None:
    rows = read_csv(march, "kpi_scores")
    header, body = rows[0], {(r[0], r[1]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[-3:] == ["quantitative_score", "coverage", "band"]
    assert set(body) == {
        ("firm", "firm"), ("advisor", "adv-a"), ("advisor", "adv-b"),
        ("department", "it"), ("department", "ops"),
    }  # fmt: skip
    adv_b = body[("advisor", "adv-b")]
    assert (adv_b["csat"], adv_b["nps"], adv_b["callback_completion"]) == ("0.5", "-50.0", "0.3333")
    # it: one breached complaint and no other evidence, scored 0 on deadlines, 100 on repeats
    # (k3 is c4's first complaint): (0 · .15 + 100 · .05) / .20 = 25.
    it = body[("department", "it")]
    assert (it["quantitative_score"], it["band"]) == ("25.0", "deduction")


def test_an_overdue_measure_is_flagged(db: Engine, tmp_path: Path) -> None:
    seed_march(db)
    later = datetime(Y, 5, 3, 9, tzinfo=SHANGHAI)  # m1 was due on 30 April and is still open
    files = build_report(db, MARCH, tmp_path, POLICY, now=later, language="en")
    assert [(r[0], r[6]) for r in read_csv(files, "improvement_measures")[1:]] == [
        ("m2", "done"), ("m1", "overdue")
    ]  # fmt: skip


def test_an_empty_period_still_has_every_chart(db: Engine, tmp_path: Path) -> None:
    files = build_report(db, MARCH, tmp_path, POLICY, now=REPORTED_ON, language="en")
    page = parse(files.html)
    assert sorted(page.charts) == sorted(CHARTS)
    assert read_csv(files, "complaints_by_category") == [["category", "complaints"]]
    summary = dict(r for r in read_csv(files, "kpi_summary")[1:])
    assert (summary["csat"], summary["complaints_received"]) == ("", "0")  # no evidence vs none


@dataclass(frozen=True)
class EngineContext(CommandContext):
    """A command context carrying its own engine, as `commands.report.engine_for` allows."""

    engine: Engine | None = None


async def test_report_build_command(db: Engine, tmp_path: Path) -> None:
    seed_march(db)
    ctx = EngineContext(client=None, policy=POLICY, engine=db)  # type: ignore[arg-type]
    body = {"period_start": f"{Y}-03-01", "period_end": f"{Y}-03-31", "out_dir": str(tmp_path)}
    out = await build_command(ctx, None, body)
    assert out["period"] == f"{Y}-03"  # a date-only end includes its day: the whole of March
    assert await asyncio.to_thread(Path(out["html"]).is_file)
    assert {Path(p).stem for p in out["csv"]} == TABLES
    with pytest.raises(CommandError, match="period_start"):
        await build_command(ctx, None, {"period_start": "first of March"})


def test_charts_render_in_headless_chromium(march: ReportFiles, tmp_path: Path) -> None:
    """The browser decodes every chart. Fails, not skips, without chromium: CI installs it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (apt-get install chromium)"
    # A copy that records, once loaded, how many images the browser actually decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(
        march.html.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>addEventListener('load', () => document.body.dataset.decoded ="
            " [...document.images].filter(i => i.complete && i.naturalWidth > 0).length)"
            "</script></body>",
        ),
        encoding="utf-8",
    )
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    decoded = re.search(r'data-decoded="(\d+)"', dom)
    assert decoded is not None, dom[:500]
    assert int(decoded.group(1)) == len(CHARTS)
    assert len(re.findall(r"<figure class=\"chart\"", dom)) == len(CHARTS)


class Captions(HTMLParser):
    """Each chart's caption and each shown table's cells by column."""

    def __init__(self) -> None:
        super().__init__()
        self.captions: dict[str, str] = {}
        self.titles: dict[str, str] = {}
        self.cells: dict[str, dict[str, list[str]]] = {}
        self._chart = self._table = self._tag = ""
        self._heads: list[str] = []
        self._col = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._tag = tag
        if tag == "figure":
            self._chart = a.get("data-chart", "")
        elif tag == "img" and self._chart:
            self.titles[self._chart] = a["alt"]
        elif tag == "table":
            self._table, self._heads = a.get("data-table", ""), []
            self.cells[self._table] = {}
        elif tag == "tr":
            self._col = 0

    def handle_data(self, data: str) -> None:
        if self._tag == "figcaption":
            self.captions[self._chart] = self.captions.get(self._chart, "") + data
        elif self._tag == "th":
            self._heads.append(data)
        elif self._tag == "td" and self._table:
            column = self._heads[self._col] if self._col < len(self._heads) else "?"
            self.cells[self._table].setdefault(column, []).append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col += 1
        self._tag = ""


def test_captions_say_what_to_notice_and_ratios_read_as_percentages(march: ReportFiles) -> None:
    page = Captions()
    page.feed(march.html.read_text(encoding="utf-8"))
    assert set(page.captions) == CHARTS
    for name, caption in page.captions.items():
        assert caption != page.titles[name], name  # not the chart's title again
    # From the seed's hand-worked month (seed.py):
    # received k1 k2 k3 k4 k6: fees k1 k3 k6 is the largest category, 3 of 5
    assert page.captions["complaints_by_category"] == "Largest: fees, 3 of 5 (60.0 %) complaints."
    # decisions k1 (6 days, met) and k2 (20 days, late)
    assert page.captions["resolution_times"] == (
        "1 of 2 (50.0 %) decisions met the deadline; the slowest took 20 days."
    )
    # due: k1 met, k2 late (ops), k3 breached (it): firm 1 of 3, it 0 of 1
    assert page.captions["deadline_compliance"] == (
        "Firm: 33.3 % decided by the deadline; lowest: it, 0.0 % (0 of 1)."
    )
    # callbacks due t1 t2 (on time), t3 (never), t4 (late): adv-b 1 of 3
    assert page.captions["callbacks_by_advisor"] == "Lowest: adv-b, 33.3 % (1 of 3)."
    # c2 gold → platinum up, c3 gold → regular down
    assert page.captions["tier_movements"] == "1 client(s) moved up a tier, 1 down."
    ratios = page.cells["deadline_compliance"]["compliance"] + page.cells["kpi_scores"]["csat"]
    assert ratios and all(r == "–" or r.endswith(" %") for r in ratios), ratios
    assert "0.3333" not in march.html.read_text(encoding="utf-8")
    # one client in each of four tiers: no tier is singled out
    assert page.captions["tier_distribution"] == (
        "Largest, tied: diamond, platinum, gold, regular, 1 each of 4 clients."
    )
    assert page.captions["callbacks_by_tier"] == "Lowest: regular, 0.0 % (0 of 1)."


def test_every_table_fits_the_page_in_headless_chromium(march: ReportFiles, tmp_path: Path) -> None:
    """No table scrolls sideways at a laptop's width: the browser measures each one."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (apt-get install chromium)"
    probe = tmp_path / "fit.html"
    probe.write_text(
        march.html.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>addEventListener('load', () => document.body.dataset.overflowing ="
            " [...document.querySelectorAll('table')].filter(t => t.scrollWidth >"
            " t.parentElement.clientWidth + 1).map(t => t.dataset.table).join(' ') || 'none')"
            "</script></body>",
        ),
        encoding="utf-8",
    )
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    overflowing = re.search(r'data-overflowing="([^"]*)"', dom)
    assert overflowing is not None, dom[:500]
    assert overflowing.group(1) == "none"
