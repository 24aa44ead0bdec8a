"""The worklist as a supervisor sees it: headless Chromium (Debian's, driven by Playwright, no
browser downloaded, no network) signs in at the codec server's login form, opens the worklist,
and the test reads both the DOM and the screenshot.

What the screenshot check proves, without OCR: the image is the page at the viewport's width,
not blank, and each listed row is painted where the DOM says it is, the breached ones in the
breached colour over most of their area and the others not at all. Fails, not skips, without
Chromium: `make test` installs it (the Makefile's `browser` step), as on CI.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import async_playwright
from sqlalchemy import Engine, func, select
from temporalio.testing import WorkflowEnvironment

from audit.access_chain import verify_chain
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import access_log
from tests.helpers.worklist import TOKEN, Seeded, expected_order, seeded_worklist

WIDTH, HEIGHT = 1280, 900
BREACHED = (0xF8, 0xD0, 0xD0)  # tr.breached td in infra/worklist.py's STYLE
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: `make browser` (apt-get install chromium)"
    return found


@pytest.fixture
async def seeded(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[Seeded]:
    async with seeded_worklist(dev_env.client, db, keyring, policy) as s:
        yield s


def _share(image: Image.Image, box: dict[str, float], colour: tuple[int, int, int]) -> float:
    """The share of the box's pixels within a small distance of `colour`."""
    left, top = int(box["x"]) + 2, int(box["y"]) + 2
    right, bottom = int(box["x"] + box["width"]) - 2, int(box["y"] + box["height"]) - 2
    raw = image.crop((left, top, right, bottom)).convert("RGB").tobytes()
    pixels = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    near = sum(1 for p in pixels if all(abs(a - b) <= 6 for a, b in zip(p, colour, strict=True)))
    return near / max(1, len(pixels))


async def test_a_supervisor_signs_in_and_sees_the_breached_rows_first(
    seeded: Seeded, db: Engine, tmp_path: Path
) -> None:
    base = str(seeded.server.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=chromium(),
            headless=True,
            args=FLAGS,
            viewport={"width": WIDTH, "height": HEIGHT},
            device_scale_factor=1,
        )
        try:
            page = await browser.new_page()
            # Nothing but this server: any other request would be a leak or a network use.
            elsewhere: list[str] = []
            page.on(
                "request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url)
            )
            await page.goto(f"{base}/worklist")
            assert "Sign in first" in await page.content()  # 401 before signing in
            await page.goto(f"{base}/login")
            await page.fill("input[name=token]", TOKEN)
            await page.click("button")
            await page.click("text=Open the supervisor's worklist")
            await page.goto(f"{base}/worklist?filter=open&department={seeded.department}")

            rows = page.locator("table#complaints tbody tr")
            ids = [
                await rows.nth(i).get_attribute("data-workflow-id")
                for i in range(await rows.count())
            ]
            assert ids == expected_order(seeded.run)
            breached = [
                await rows.nth(i).get_attribute("data-breached") == "true" for i in range(len(ids))
            ]
            assert breached == [True, True, False, False, False]
            first = await rows.nth(0).locator("td").all_inner_texts()
            assert first[0] == f"wl-{seeded.run}-b" and first[6] == "s-b"
            assert first[7] == "2026-11-28 16:30" and first[8] == "overdue 3 d 0 h"
            assert (await rows.nth(3).locator("td").all_inner_texts())[6] == "<b>s-d</b>"
            link = await rows.nth(0).locator("td").first.locator("a").get_attribute("href")
            assert link and link.startswith(
                f"http://localhost:8233/namespaces/default/workflows/complaint-wl-{seeded.run}-b/"
            )

            shot = await page.screenshot(full_page=False)
            (tmp_path / "worklist.png").write_bytes(shot)
            image = Image.open(io.BytesIO(shot))
            assert image.size == (WIDTH, HEIGHT)
            extrema = image.convert("L").getextrema()
            assert extrema[1] - extrema[0] > 100, "a blank screenshot"  # type: ignore[operator]
            for i, late in enumerate(breached):
                box = await rows.nth(i).bounding_box()
                assert box is not None and box["y"] + box["height"] <= HEIGHT, "row off screen"
                share = _share(image, box, BREACHED)
                if late:
                    assert share > 0.6, (ids[i], share)
                else:
                    assert share < 0.01, (ids[i], share)

            # the duties list, grouped by advisor, from its ready link
            await page.click("text=Overdue, diamond")
            await page.goto(f"{base}/worklist?filter=overdue-duties&advisor={seeded.advisor}")
            duty_ids = await page.locator("table#duties tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.workflowId)"
            )
            assert duty_ids == [f"client-wl-{seeded.run}-c2", f"client-wl-{seeded.run}-c1"]
            assert elsewhere == []
        finally:
            await browser.close()

    with db.connect() as conn:
        views = conn.execute(
            select(func.count()).where(
                access_log.c.action == "worklist-view", access_log.c.workflow_id.is_(None)
            )
        ).scalar_one()
    assert views >= 3  # the open list, the diamond list, the advisor's: each recorded
    assert verify_chain(db).ok
