"""Every console page in Chromium at 390 px wide (a phone) and at desktop width: nothing
scrolls sideways at 390 px; the screenshots are refreshed in docs/ on demand
(CARESYNC_UPDATE_SCREENSHOTS=1), as the README's picture is."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Page, expect

from server.clock import to_datetime
from server.services.rota import NewTask
from tests.e2e.browser import screenshot
from tests.e2e.test_console_browser import Console, _visit, browser, console

__all__ = ["browser", "console"]

DOCS = Path(__file__).parents[2] / "docs"


async def _sideways(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


async def test_no_page_scrolls_sideways_at_390_px(console: Console) -> None:
    node = console.running.node
    agency = console.agency
    carer = agency.carers[0]
    start = to_datetime(console.clock.now_ms()) + timedelta(minutes=30)
    await node.rota.create_visit(
        agency.admin,
        client_id=agency.client_ids[0],
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        carer_ids=[c.id for c in agency.carers],
        tasks_=[NewTask("Hoist transfer")],
    )
    await _visit(console, 1, minutes=300, client=1)
    await console.detect()  # alerts on the notifications and carer pages
    base = console.running.base_url
    pages = {
        "notifications": "/console/notifications",
        "rota": "/console/rota",
        "rota-day": "/console/rota?view=day",
        "devices": "/console/devices",
        "report": "/console/reports/devices",
        "verification": "/console/reports/visit-verification",
        "carer": f"/console/carers/{carer.id}",
        "error": "/console/carers/nobody",
    }
    update = os.environ.get("CARESYNC_UPDATE_SCREENSHOTS") == "1"
    for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "390")):
        await console.page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            await console.page.goto(base + path)
            await expect(console.page.locator("main h1")).to_be_visible()
            if suffix == "390":
                assert await _sideways(console.page) <= 0, f"{name} scrolls sideways at 390 px"
            shot = await screenshot(console.page, f"console-{name}-{suffix}")
            if update and name in ("notifications", "rota", "devices", "report", "carer"):
                shutil.copy(shot, DOCS / f"console-{name}-{suffix}.png")
        # The enrolment page (a one-time code and its QR code) too.
        await console.page.goto(base + "/console/devices")
        enrol = console.page.locator("section.enrol")
        await enrol.get_by_label("Carer", exact=True).select_option(label=carer.name)
        await enrol.get_by_role("button", name="Create enrolment code").click()
        await expect(console.page.locator("#enrolment-code")).to_be_visible()
        if suffix == "390":
            assert await _sideways(console.page) <= 0, "the enrolment page scrolls sideways at 390 px"
        shot = await screenshot(console.page, f"console-enrolment-{suffix}")
        if update:
            shutil.copy(shot, DOCS / f"console-enrolment-{suffix}.png")
