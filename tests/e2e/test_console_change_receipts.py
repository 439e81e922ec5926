"""In Chromium: a coordinator marks a visit's notes as needing acknowledgement from the rota
page (at 390 px too), the carer's phone holds the change as awaiting the carer, and the
carer's page lists the change as marked, delivered at the time the phone acknowledged it,
not seen, then seen at the time the carer acknowledged it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from server.clock import to_datetime
from tests.e2e.test_console_browser import Console, _visit, browser, console
from tests.e2e.test_console_pages_narrow import _sideways
from tests.support import eventually, make_device

__all__ = ["browser", "console"]

ZONE = ZoneInfo("Europe/London")


def _hh_mm(console: Console) -> str:
    return to_datetime(console.clock.now_ms()).astimezone(ZONE).strftime("%H:%M")


async def test_marked_notes_are_delivered_then_seen_with_times(console: Console, tmp_path: Path) -> None:
    node = console.running.node
    amara = console.agency.carers[0]
    visit_id = await _visit(console, 0, minutes=26 * 60)  # beyond the 24 h window: only the mark asks
    phone = await make_device(console.running, amara, tmp_path)
    try:
        await eventually(lambda: phone.store.visit(amara.id, visit_id) is not None)
        assert phone.awaiting_seen() == []
        page = console.page
        await page.set_viewport_size({"width": 390, "height": 844})
        day = (to_datetime(console.clock.now_ms()) + timedelta(hours=26)).astimezone(ZONE).date()
        await page.goto(f"{console.running.base_url}/console/rota?date={day.isoformat()}&view=day")
        row = page.locator(f'tr[data-visit-id="{visit_id}"]')
        await row.locator("details.visit-notes summary").click()
        await row.get_by_label("Notes for the carers of").fill("Key safe moved to the side door: code 4321")
        await row.get_by_label("Carers must acknowledge these notes").check()
        assert await _sideways(page) <= 0, "the open notes form scrolls sideways at 390 px"
        await row.get_by_role("button", name="Save the notes of the visit").click()
        await expect(page.locator("p.notice")).to_contain_text("each carer must acknowledge them")

        await eventually(lambda: len(phone.awaiting_seen()) == 1)
        held = phone.store.visit(amara.id, visit_id)
        assert held is not None and held.notes == "Key safe moved to the side door: code 4321"
        await node.activity.flush()
        delivered = _hh_mm(console)
        await page.goto(f"{console.running.base_url}/console/carers/{amara.id}")
        latest = page.locator("#changes tbody tr").first
        await expect(latest.locator(".delivered")).to_have_text(f"delivered {delivered}")
        await expect(latest.locator(".seen-at")).to_have_text("not seen")

        console.clock.advance(7 * 60)
        assert await phone.acknowledge(at=to_datetime(console.clock.now_ms())) == 1  # the phone's clock
        seen = _hh_mm(console)
        assert seen != delivered

        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.goto(f"{console.running.base_url}/console/rota?date={day.isoformat()}&view=day")
        await expect(row.locator(".phones")).to_have_text(f"delivered {delivered}")
        await expect(row.locator(".seen")).to_have_text(f"seen by {amara.name} {seen}")
        await page.goto(f"{console.running.base_url}/console/carers/{amara.id}")
        await expect(latest.locator("td").nth(2)).to_have_text("notes changed, to acknowledge")
        await expect(latest.locator(".to-acknowledge")).to_have_text("yes, marked by the office")
        await expect(latest.locator(".delivered")).to_have_text(f"delivered {delivered}")
        await expect(latest.locator(".seen-at")).to_have_text(f"seen {seen}")
        first = page.locator("#changes tbody tr").last
        await expect(first.locator("td").nth(2)).to_have_text("new visit")
        await expect(first.locator(".to-acknowledge")).to_have_text("no")
        await expect(first.locator(".delivered")).to_have_text(f"delivered {delivered}")
        await expect(first.locator(".seen-at")).to_have_text("—")
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await _sideways(page) <= 0, "the carer page scrolls sideways at 390 px"
    finally:
        await phone.stop()
