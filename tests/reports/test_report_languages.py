"""The report in Chinese (zh-CN, the firm's language and the default) and in English.

The English page is held to what it was before the catalogue (`golden/report-en.txt`, the page's
text and each chart's image digest, written by the page as it was built then); the Chinese page
must have no English word left but the codes and ids its data carries, and every glyph its charts
draw must be in a font the charts have.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import shutil
import string
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from matplotlib.ft2font import FT2Font
from sqlalchemy import Engine

from reports.build import ReportFiles, build_report
from reports.charts import CJK_FONT
from reports.i18n import CATALOGUES, EN, ZH, ZH_CODES, ZH_COLUMNS, words
from tests.reports.seed import Y, seed_march
from tests.reports.test_report import MARCH, POLICY, REPORTED_ON, EngineContext, read_csv

GOLDEN = Path(__file__).parent / "golden" / "report-en.txt"
# Words a Chinese reader of a wealth-management report reads as they are, and the zone's name.
KEPT = {"CSAT", "NPS", "AUM", "Asia", "Shanghai"}


class Text(HTMLParser):
    """The page as a reader gets it: its text, each image's alt text, and the charts' digests."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.lines: list[str] = []
        self.images: list[str] = []
        self._skip = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "style":
            self._skip = True
        if tag == "img":
            self.lines.append(f"[img] {a['alt']}")
            png = base64.b64decode(a["src"].partition(",")[2])
            self.images.append(hashlib.sha256(png).hexdigest())

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.lines.append(data.strip())


def page_text(files: ReportFiles) -> Text:
    page = Text()
    page.feed(files.html.read_text(encoding="utf-8"))
    return page


def build(db: Engine, tmp_path: Path, language: str) -> ReportFiles:
    """The seeded month's report; a glyph a chart's fonts lack fails the build, not a warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from (current )?font")
        return build_report(db, MARCH, tmp_path / language, POLICY, REPORTED_ON, language)


@pytest.fixture
def both(db: Engine, tmp_path: Path) -> dict[str, ReportFiles]:
    seed_march(db)
    return {lang: build(db, tmp_path, lang) for lang in ("en", "zh-CN")}


def test_the_english_page_is_the_page_it_was(both: dict[str, ReportFiles]) -> None:
    page = page_text(both["en"])
    assert page.lang == "en"
    golden = GOLDEN.read_text(encoding="utf-8").splitlines()
    assert page.lines + [f"[png] {d}" for d in page.images] == golden


def test_the_chinese_page_has_no_english_word_but_codes_and_ids(
    both: dict[str, ReportFiles],
) -> None:
    page = page_text(both["zh-CN"])
    assert page.lang == "zh-CN"
    # What the data itself carries (ids, departments, root causes typed by handlers, the
    # measures' text) stays as it was entered; a code the catalogue translates may not.
    data = {
        word
        for path in both["zh-CN"].csv
        for row in read_csv(both["zh-CN"], path.stem)[1:]
        for cell in row
        for word in re.findall(r"[A-Za-z]{2,}", cell)
    } - set(ZH_CODES)
    english = {
        (line, word)
        for line in page.lines
        for word in re.findall(r"[A-Za-z]{2,}", line.removeprefix("[img] "))
        if word not in KEPT | data
    }
    assert not english, sorted(english)
    text = "\n".join(page.lines)
    assert f"客户服务报告 {Y}-03" in text
    assert f"{Y}年3月1日 00:00 至 {Y}年4月1日 00:00" in text  # the period, in Chinese dates
    # a caption's figures, the same as the English one's ("Largest: fees, 3 of 5 (60.0 %)")
    assert "最多：费用，占投诉 5 件中的 3 件（60.0 %）。" in text
    assert "1 位客户升级，1 位降级。" in text
    assert "并列最多：钻石、铂金、黄金、普通，各 1 位，共 4 位客户。" in text  # people count in 位
    # the measures' due day and completion in Chinese form (the CSV keeps ISO)
    assert "2026年4月30日" in text and "2026年3月19日 10:00" in text
    # the CSV files are for programs: the same bytes in either language
    for en, zh in zip(sorted(both["en"].csv), sorted(both["zh-CN"].csv), strict=True):
        assert en.read_bytes() == zh.read_bytes(), en.name


def test_both_catalogues_have_the_same_texts_with_the_same_blanks() -> None:
    blanks = string.Formatter()
    assert set(EN) == set(ZH)
    for key in EN:
        # the same blanks, each used as often as the language needs (a measure word twice)
        en = {f for _, f, _, _ in blanks.parse(EN[key]) if f}
        zh = {f for _, f, _, _ in blanks.parse(ZH[key]) if f}
        assert en == zh, key
    assert set(CATALOGUES) == {"en", "zh-CN"}
    with pytest.raises(ValueError, match="zh-CN, en"):
        words("fr")


def test_the_chinese_page_carries_the_glyphs_its_text_needs(
    both: dict[str, ReportFiles], tmp_path: Path
) -> None:
    """Read on a machine without a Chinese font, as this one is: the page's own subset of Noto
    Sans SC has every character of its text, and headless Chromium loads it and draws that
    text with it."""
    html = both["zh-CN"].html.read_text(encoding="utf-8")
    found = re.search(r'font-family:"Client Care CJK".*?base64,([A-Za-z0-9+/=]+)\)', html)
    assert found, "no embedded font"
    font = TTFont(io.BytesIO(base64.b64decode(found.group(1))))
    cmap = font.getBestCmap()
    text = "\n".join(page_text(both["zh-CN"]).lines)
    assert {c for c in text if ord(c) > 0x7F} - {chr(u) for u in cmap} == set()
    assert len(found.group(1)) < 200_000  # the glyphs used, not the 8 MB font
    assert "Client Care CJK" not in both["en"].html.read_text(encoding="utf-8")

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (apt-get install chromium)"
    probe = tmp_path / "fonts.html"
    probe.write_text(
        html.replace(
            "</body>",
            "<script>document.fonts.ready.then(() => document.body.dataset.cjk ="
            " [...document.fonts].filter(f => f.family.includes('Client Care CJK')"
            " && f.status === 'loaded').length + ':' +"
            " document.fonts.check('16px \"Client Care CJK\"', document.title))</script></body>",
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
    assert 'data-cjk="1:true"' in dom, re.findall(r"data-cjk=\S+", dom)


def test_every_chinese_character_is_in_the_shipped_font() -> None:
    """Every character of the Chinese catalogue is in Noto Sans SC, so no chart draws a box
    whatever its data; the build above also turns matplotlib's glyph warning into an error."""
    charmap = FT2Font(str(CJK_FONT)).get_charmap()
    texts = [*ZH.values(), *ZH_CODES.values(), *ZH_COLUMNS.values()]
    missing = {ch for t in texts for ch in t if ord(ch) not in charmap and not ch.isspace()}
    assert not missing, sorted(missing)


async def test_report_build_takes_a_language(db: Engine, tmp_path: Path) -> None:
    from commands.base import CommandError
    from commands.report import build as build_command

    seed_march(db)
    ctx = EngineContext(client=None, policy=POLICY, engine=db)  # type: ignore[arg-type]
    out = await build_command(ctx, None, {"period": f"{Y}-03", "out_dir": str(tmp_path)})
    assert out["language"] == "zh-CN"  # the firm's language, unless asked
    html = await asyncio.to_thread(Path(out["html"]).read_text, encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    body = {"period": f"{Y}-03", "out_dir": str(tmp_path / "en"), "language": "en"}
    out = await build_command(ctx, None, body)
    html = await asyncio.to_thread(Path(out["html"]).read_text, encoding="utf-8")
    assert '<html lang="en">' in html
    with pytest.raises(CommandError, match="language must be one of zh-CN, en") as refused:
        await build_command(ctx, None, {"period": f"{Y}-03", "language": "fr"})
    assert refused.value.code == "invalid"


def test_an_empty_period_in_chinese_says_so_in_chinese(db: Engine, tmp_path: Path) -> None:
    """No evidence at all: every 'none', every caption of nothing and every chart's 'no data'
    (drawn, so the glyph check covers it) come from the catalogue too."""
    files = build(db, tmp_path, "zh-CN")
    page = page_text(files)
    english = {
        word
        for line in page.lines
        for word in re.findall(r"[A-Za-z]{2,}", line.removeprefix("[img] "))
        if word not in KEPT
    }
    assert not english, sorted(english)
    text = "\n".join(page.lines)
    assert "无" in page.lines  # an empty table's one cell
    assert "本期无投诉。" in text and "本期没有客户变动等级。" in text
