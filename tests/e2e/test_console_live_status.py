"""Visit status, live in Chromium: the rota and carer pages follow the console feed, so a
check-in, a check-out, a visit turning late and then missed change the status cell without
a reload."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.test_console_browser import Console, _visit, browser, console
from tests.support import eventually, make_device

__all__ = ["browser", "console"]


async def test_rota_and_carer_page_follow_status_live(console: Console, tmp_path: Path) -> None:
    node = console.running.node
    amara, ben = console.agency.carers
    late = await _visit(console, 0, minutes=5)
    visited = await _visit(console, 1, minutes=10, client=1)
    phone = await make_device(console.running, ben, tmp_path)
    try:
        await eventually(lambda: phone.store.visit(ben.id, visited) is not None)
        page = console.page
        await page.goto(f"{console.running.base_url}/console/rota")
        late_cell = page.locator(f'tr[data-visit-id="{late}"] .visit-status')
        visited_cell = page.locator(f'tr[data-visit-id="{visited}"] .visit-status')
        await expect(page.locator("#status-live")).to_have_text("Status live")
        await expect(late_cell).to_have_text("scheduled")
        await expect(visited_cell).to_have_text("scheduled")

        phone.check_in(ben.id, visited)
        await phone.sync()
        await expect(visited_cell).to_have_text("in progress")  # no reload
        console.clock.advance(20 * 60)  # 15 minutes past Amara's start: late (default grace 15 min)
        assert await node.visit_status.run_once() == 1
        await expect(late_cell).to_have_text("late")
        await expect(late_cell).to_have_attribute("data-state", "late")

        await page.goto(f"{console.running.base_url}/console/carers/{amara.id}")
        await expect(page.locator("#status-live")).to_have_text("Status live")
        row = page.locator(f'#visits tr[data-visit-id="{late}"] .visit-status')
        await expect(row).to_have_text("late")
        console.clock.advance(40 * 60)  # past its end with nobody checked in
        assert await node.visit_status.run_once() == 1
        await expect(row).to_have_text("missed")

        await page.goto(f"{console.running.base_url}/console/carers/{ben.id}")
        await expect(page.locator("#status-live")).to_have_text("Status live")
        ben_row = page.locator(f'#visits tr[data-visit-id="{visited}"] .visit-status')
        await expect(ben_row).to_have_text("in progress")
        phone.check_out(ben.id, visited)
        await phone.sync()
        await expect(ben_row).to_have_text("completed")
    finally:
        await phone.stop()
