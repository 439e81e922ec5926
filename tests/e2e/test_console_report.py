"""The User Device Relationship report in Chromium tells the truth: a phone level at its
last acknowledgement is not "never synced, stale" when newer changes wait for it; revoked
and deactivated phones are shown as such; text search and paging."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from server.clock import to_datetime
from server.services.rota import NewTask
from tests.e2e.test_console_browser import Console, browser, console

__all__ = ["browser", "console"]


async def _report(console: Console, query: str = "") -> None:
    await console.page.goto(f"{console.running.base_url}/console/reports/devices{query}")


async def _visits(console: Console, count: int) -> None:
    carer = console.agency.carers[0]
    for i in range(count):
        start = to_datetime(console.clock.now_ms()) + timedelta(hours=1 + i)
        await console.running.node.rota.create_visit(
            console.agency.admin,
            client_id=console.agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            carer_ids=[carer.id],
            tasks_=[NewTask("Lunch")],
        )


async def test_a_phone_that_acknowledged_7_of_7_then_two_changes_is_not_stale(console: Console) -> None:
    node = console.running.node
    carer = console.agency.carers[0]
    await _visits(console, 7)
    acked_at = to_datetime(console.clock.now_ms())
    node.activity.record(carer.device_id, carer.id, 1, 7)
    await node.activity.flush()
    console.clock.advance(4 * 60)
    await _visits(console, 2)
    console.clock.advance(7 * 60)

    await _report(console)
    row = console.page.locator(f'tr[data-device-id="{carer.device_id}"]')
    shown = acked_at.astimezone(ZoneInfo("Europe/London")).strftime("%d %b %Y %H:%M:%S")
    await expect(row.locator("td.last-sync")).to_have_text(shown)
    cells = row.locator("td")
    await expect(cells.nth(9)).to_have_text("2")  # sync lag in changes
    await expect(cells.nth(10)).to_have_text("no")  # not stale: well within 24 h
    await expect(row.locator("td.state")).to_have_text("active")


async def test_revoked_and_deactivated_phones_are_shown_and_the_report_searches_and_pages(console: Console) -> None:
    node = console.running.node
    agency = console.agency
    first, second = agency.carers
    await node.devices.revoke(agency.tenant_id, first.device_id)
    await node.devices.deactivate(agency.tenant_id, second.device_id)
    await _report(console)
    page = console.page
    await expect(page.locator(f'tr[data-device-id="{first.device_id}"] td.state')).to_have_text("revoked")
    await expect(page.locator(f'tr[data-device-id="{second.device_id}"] td.state')).to_have_text("deactivated")

    await page.get_by_label("Search").fill(second.name)
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#report tbody tr")).to_have_count(1)
    await expect(page.locator("#report tbody tr")).to_contain_text(second.name)

    for i in range(52):
        await node.devices.create_device(
            agency.tenant_id, name=f"Spare {i:02d}", carer_ids=[first.id], branch_id=agency.branch_id, issue_token=False
        )
    await _report(console)
    await expect(page.locator("#report tbody tr")).to_have_count(50)
    await expect(page.locator(".zone")).to_contain_text("54 devices, page 1 of 2")
    await page.get_by_role("link", name="Next page").click()
    await expect(page.locator("#report tbody tr")).to_have_count(4)
    await expect(page.get_by_role("link", name="Previous page")).to_be_visible()
