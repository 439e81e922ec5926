"""The console's rota and alert cards in a real browser: a double-up keeps both carers on
Reassign, Cancel asks first; alert cards count down, say when they were raised and how to
reach the carer, report a failed close, and closed alerts stay visible with who closed
them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.async_api import Dialog, Route, expect

from server.clock import to_datetime
from server.services.rota import NewTask
from tests.e2e.test_console_browser import Console, _visit, browser, console

__all__ = ["browser", "console"]


async def _double_up(console: Console, minutes: int = 120) -> str:
    start = to_datetime(console.clock.now_ms()) + timedelta(minutes=minutes)
    view = await console.running.node.rota.create_visit(
        console.agency.admin,
        client_id=console.agency.client_ids[0],
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        carer_ids=[c.id for c in console.agency.carers],
        tasks_=[NewTask("Hoist transfer")],
    )
    return view.id


async def _rota(console: Console) -> None:
    await console.page.goto(f"{console.running.base_url}/console/rota")


async def test_reassign_on_a_double_up_keeps_both_carers(console: Console) -> None:
    visit_id = await _double_up(console)
    await _rota(console)
    row = console.page.locator(f'tr[data-visit-id="{visit_id}"]')
    for carer in console.agency.carers:
        await expect(row.get_by_role("button", name=f"Remove {carer.name}")).to_be_visible()
    await row.get_by_role("button", name="Reassign").click()
    await expect(console.page.get_by_role("status")).to_be_visible()
    view = await console.running.node.rota.get_visit(console.agency.admin, visit_id)
    assert sorted(view.carer_ids) == sorted(c.id for c in console.agency.carers)

    # Removing one carer takes that carer off and keeps the other.
    row = console.page.locator(f'tr[data-visit-id="{visit_id}"]')
    await row.get_by_role("button", name=f"Remove {console.agency.carers[1].name}").click()
    await row.get_by_role("button", name="Reassign").click()
    await expect(console.page.get_by_role("status")).to_be_visible()
    view = await console.running.node.rota.get_visit(console.agency.admin, visit_id)
    assert view.carer_ids == [console.agency.carers[0].id]


async def test_cancel_visit_asks_first(console: Console) -> None:
    visit_id = await _double_up(console)
    await _rota(console)
    page = console.page
    answers: list[str] = []

    async def decline(dialog: Dialog) -> None:
        answers.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await page.locator(f'tr[data-visit-id="{visit_id}"]').get_by_role("button", name="Cancel visit").click()
    await expect(page.locator(f'tr[data-visit-id="{visit_id}"]')).to_contain_text("scheduled")
    assert answers and "Both carers" in answers[0]
    assert (await console.running.node.rota.get_visit(console.agency.admin, visit_id)).status == "scheduled"

    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(f'tr[data-visit-id="{visit_id}"]').get_by_role("button", name="Cancel visit").click()
    await expect(page.get_by_role("status")).to_be_visible()
    assert (await console.running.node.rota.get_visit(console.agency.admin, visit_id)).status == "cancelled"


async def test_alert_cards_count_down_and_show_when_and_whom(console: Console, tmp_path: Path) -> None:
    page = console.page
    await page.clock.install()
    await page.reload()
    await expect(page.locator("#live")).to_have_text("Live")
    await _visit(console, 0, minutes=30)
    await console.detect()
    card = page.locator("li.alert").first
    await expect(card).to_contain_text("starts in 27 min")
    await expect(card.locator(".raised")).to_contain_text("Raised")
    await expect(card.locator(".reach")).to_contain_text(console.agency.carers[0].name)
    await page.clock.run_for(330_000)  # five and a half minutes: the 15 s tick passes the 5-minute mark
    await expect(card).to_contain_text("starts in 22 min")

    # A close that cannot reach the server says so and can be tried again.
    async def unreachable(route: Route) -> None:
        await route.abort()

    await page.route("**/console/alerts/*/dismiss", unreachable)
    close = card.get_by_role("button", name=f"Close the alert for {console.agency.carers[0].name}")
    await close.click()
    await expect(card.get_by_role("alert")).to_contain_text("Could not close")
    await expect(close).to_be_enabled()
    await page.unroute("**/console/alerts/*/dismiss")

    await close.click()
    await expect(page.locator("li.alert")).to_have_count(0)
    closed = page.locator("#closed li")
    await expect(closed).to_have_count(1)
    await expect(closed.first).to_contain_text("Closed by Cora")

    # After a reload the closed alert, and who closed it, are still there.
    await page.reload()
    await expect(page.locator("#closed li").first).to_contain_text("Closed by Cora")
    del tmp_path
