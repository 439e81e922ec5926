"""The console's rota in Chromium shows each visit's status from what carers recorded
(late once the grace after its start passes without a check-in, in progress after one)
and, per carer whose phone holds the visit's latest change, whether they saw it and when;
a late-visit alert names the visit on the notifications page and a check-in resolves it;
the carer's page lists their visits today the same way."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.test_console_browser import Console, _visit, browser, console
from tests.support import eventually, make_device

__all__ = ["browser", "console"]


async def test_rota_shows_late_in_progress_and_seen(console: Console, tmp_path: Path) -> None:
    node = console.running.node
    amara, ben = console.agency.carers
    late = await _visit(console, 0, minutes=5)
    visited = await _visit(console, 1, minutes=10, client=1)
    phones = [await make_device(console.running, c, tmp_path) for c in (amara, ben)]
    try:
        await eventually(lambda: phones[0].store.visit(amara.id, late) is not None)
        await eventually(lambda: phones[1].store.visit(ben.id, visited) is not None)
        assert await phones[1].acknowledge() == 1
        console.clock.advance(20 * 60)  # 15 minutes past Amara's start: late (default grace 15 min)
        phones[1].check_in(ben.id, visited)
        await phones[1].sync()
        await node.activity.flush()
        await console.page.goto(f"{console.running.base_url}/console/rota")
        page = console.page
        late_row = page.locator(f'tr[data-visit-id="{late}"]')
        visited_row = page.locator(f'tr[data-visit-id="{visited}"]')
        await expect(late_row.locator(".visit-status")).to_have_text("late")
        await expect(visited_row.locator(".visit-status")).to_have_text("in progress")
        await expect(late_row.locator(".seen")).to_have_text(f"not seen by {amara.name}")
        await expect(visited_row.locator(".seen")).to_contain_text(f"seen by {ben.name} ")

        assert (await node.late_visits.run_once()).raised == 1
        await page.goto(f"{console.running.base_url}/console/notifications")
        card = page.locator("li.alert")
        await expect(card).to_have_count(1)
        await expect(card.locator(".state")).to_have_text("no check-in")
        await expect(card).to_contain_text(f"{amara.name}'s phone holds the visit")
        phones[0].check_in(amara.id, late)
        await phones[0].sync()
        await expect(card).to_have_count(0)  # resolved live by the check-in
        await expect(page.locator("#closed")).to_contain_text("a carer checked in")
        await page.goto(f"{console.running.base_url}/console/carers/{amara.id}")
        row = page.locator(f'#visits tr[data-visit-id="{late}"]')
        await expect(row.locator(".visit-status")).to_have_text("in progress")
        await expect(row.locator(".seen")).to_have_text("not seen")
    finally:
        for phone in phones:
            await phone.stop()
