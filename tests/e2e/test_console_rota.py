"""The console's rota in Chromium: a week by day with previous/next, a carer picker that
stays one line at 200 carers and reassigns a double-up from the keyboard alone, creating a
visit on another day (pushed to the carer's phone), moving one to another day, warnings
before a change in the past or overlapping, reinstating a cancelled visit, whether each
phone has the change, and an error page that leads back to the rota."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from server.clock import to_datetime
from server.services.rota import NewTask
from tests.e2e.browser import screenshot
from tests.e2e.test_console_browser import Console, _visit, browser, console
from tests.support import eventually, make_device

__all__ = ["browser", "console"]

LONDON = ZoneInfo("Europe/London")


async def _rota(console: Console, query: str = "") -> None:
    await console.page.goto(f"{console.running.base_url}/console/rota{query}")


def _local_now(console: Console):  # type: ignore[no-untyped-def]
    return to_datetime(console.clock.now_ms()).astimezone(LONDON)


async def test_a_row_stays_one_line_at_200_carers_and_a_double_up_is_reassigned_by_keyboard(console: Console) -> None:
    node = console.running.node
    agency = console.agency
    for i in range(198):
        await node.directory.create_user(agency.tenant_id, agency.branch_id, f"Carer {i:03d}", "carer")
    start = to_datetime(console.clock.now_ms()) + timedelta(hours=2)
    double = await node.rota.create_visit(
        agency.admin,
        client_id=agency.client_ids[0],
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        carer_ids=[c.id for c in agency.carers],
        tasks_=[NewTask("Hoist transfer")],
    )
    single = await _visit(console, 0, minutes=240, client=1)
    await _rota(console)
    page = console.page
    double_row = page.locator(f'tr[data-visit-id="{double.id}"]')
    single_row = page.locator(f'tr[data-visit-id="{single}"]')
    await screenshot(page, "rota-200-carers")
    for row in (double_row, single_row):
        box = await row.bounding_box()
        assert box is not None and box["height"] < 70, box  # one line, whatever the number of carers

    # Keyboard only: Tab to the double-up's picker, type, choose with the arrows and Enter,
    # remove a carer with its button, then Reassign; both the kept and the new carer stay.
    combobox = double_row.get_by_role("combobox", name="Add a carer")
    for _ in range(60):
        if await combobox.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    else:
        raise AssertionError("the picker cannot be reached with Tab")
    await page.keyboard.type("Carer 01")
    listbox = double_row.get_by_role("listbox")
    await expect(listbox).to_be_visible()
    await expect(listbox.get_by_role("option")).to_have_count(8)  # the first few matches, not 200
    await page.keyboard.press("ArrowDown")
    await expect(combobox).to_have_attribute("aria-activedescendant", f"options-{double.id}-1")
    await page.keyboard.press("Enter")
    await expect(double_row.get_by_role("button", name="Remove Carer 011")).to_be_visible()
    await expect(listbox).to_be_hidden()
    wanted = f"Remove {agency.carers[1].name}"
    for _ in range(6):  # back through the chips to the second carer's Remove button
        await page.keyboard.press("Shift+Tab")
        if await page.evaluate("document.activeElement.getAttribute('aria-label')") == wanted:
            break
    else:
        raise AssertionError(f"{wanted} cannot be reached with Shift+Tab")
    await page.keyboard.press("Enter")
    await expect(double_row.get_by_role("button", name=f"Remove {agency.carers[1].name}")).to_have_count(0)
    await double_row.get_by_role("button", name="Reassign").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Carers changed")
    view = await node.rota.get_visit(agency.admin, double.id)
    names = {c.id: c.name for c in agency.carers}
    assert agency.carers[0].id in view.carer_ids and agency.carers[1].id not in view.carer_ids
    assert len(view.carer_ids) == 2 and any(c not in names for c in view.carer_ids)


async def test_create_a_visit_on_another_day_and_see_it_reach_the_phone(console: Console, tmp_path: Path) -> None:
    carer = console.agency.carers[0]
    device = await make_device(console.running, carer, tmp_path)
    try:
        await _rota(console)
        page = console.page
        day = (_local_now(console) + timedelta(days=2)).date()
        await page.locator("summary", has_text="New visit").click()
        form = page.locator("form.new-visit-form")
        await form.get_by_label("Client").select_option(index=1)
        await form.get_by_label("Date").fill(day.isoformat())
        await form.get_by_label("Start (HH:MM)").fill("09:30")
        await form.get_by_label("End (HH:MM)").fill("10:15")
        await form.get_by_label("Tasks").fill("Medication, Lunch")
        await form.get_by_role("combobox", name="Add a carer").fill(carer.name)
        await page.keyboard.press("Enter")
        await form.get_by_role("button", name="Create visit").click()
        await expect(page.get_by_role("status")).to_contain_text("Visit created")
        day_rows = page.locator(f'tbody[data-date="{day.isoformat()}"] tr[data-visit-id]')
        await expect(day_rows).to_have_count(1)
        await expect(day_rows.first).to_contain_text("09:30\u201310:15")
        visit_id = await day_rows.first.get_attribute("data-visit-id")
        assert visit_id is not None
        await eventually(lambda: device.store.visit(carer.id, visit_id) is not None)
        pushed = device.store.visit(carer.id, visit_id)
        assert pushed is not None and pushed.starts_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") == (
            f"{day.isoformat()} 09:30"
        )
        assert [t.title for t in pushed.tasks] == ["Medication", "Lunch"]
        await console.running.node.activity.flush()
        await page.reload()
        await expect(page.locator(f'tr[data-visit-id="{visit_id}"] .phones')).to_have_text(
            re.compile(r"^delivered \d\d:\d\d$")  # with when the phone acknowledged it
        )
    finally:
        await device.stop()


async def test_move_to_another_day_and_warnings_for_the_past_and_an_overlap(console: Console) -> None:
    page = console.page
    first = await _visit(console, 0, minutes=180)
    other = await _visit(console, 0, minutes=60 * 24 + 180, client=1)  # tomorrow, same carer
    await _rota(console)
    row = page.locator(f'tr[data-visit-id="{first}"]')
    await expect(row.locator(".phones")).to_have_text(f"queued: {console.agency.carers[0].name}")  # phone offline
    other_start = (await console.running.node.rota.get_visit(console.agency.admin, other)).starts_at.astimezone(LONDON)

    # Onto the other visit: asked first, nothing changes when going back.
    await row.get_by_label("New date").fill(other_start.date().isoformat())
    await row.get_by_label("New start time").fill(other_start.strftime("%H:%M"))
    await row.get_by_role("button", name="Move the visit").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check before you go ahead")
    await expect(page.locator(".warnings")).to_contain_text("has another visit then")
    await page.get_by_role("link", name="Back to the rota, changing nothing").click()
    before = await console.running.node.rota.get_visit(console.agency.admin, first)
    assert before.starts_at != other_start

    # Into the past: asked first, then done when the coordinator goes ahead.
    yesterday = _local_now(console) - timedelta(days=1)
    row = page.locator(f'tr[data-visit-id="{first}"]')
    await _rota(console, f"?date={yesterday.date().isoformat()}&view=day")
    await _rota(console)
    await row.get_by_label("New date").fill(yesterday.date().isoformat())
    await row.get_by_label("New start time").fill("08:00")
    await row.get_by_role("button", name="Move the visit").click()
    await expect(page.locator(".warnings")).to_contain_text("would start in the past")
    await page.get_by_role("button", name="Go ahead anyway").click()
    await expect(page.get_by_role("status")).to_contain_text("Visit rescheduled")
    moved = await console.running.node.rota.get_visit(console.agency.admin, first)
    assert moved.starts_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") == f"{yesterday.date().isoformat()} 08:00"
    await expect(
        page.locator(f'tbody[data-date="{yesterday.date().isoformat()}"] tr[data-visit-id="{first}"]')
    ).to_be_visible()

    # Previous / next move by a week; the day view shows one day.
    await page.get_by_role("link", name="Next week →").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("week of")
    await _rota(console, f"?date={yesterday.date().isoformat()}&view=day")
    await expect(page.locator("tbody[data-date]")).to_have_count(1)


async def test_reinstate_a_cancelled_visit(console: Console) -> None:
    page = console.page
    visit_id = await _visit(console, 1, minutes=120)
    await console.running.node.rota.cancel(console.agency.admin, visit_id)
    await _rota(console)
    row = page.locator(f'tr[data-visit-id="{visit_id}"]')
    await expect(row.locator(".visit-status")).to_have_text("cancelled")
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Reinstate visit").click()
    await expect(page.get_by_role("status")).to_contain_text("Visit reinstated")
    await expect(row.locator(".visit-status")).to_have_text("scheduled")
    assert (await console.running.node.rota.get_visit(console.agency.admin, visit_id)).status == "scheduled"


async def test_a_bad_time_leads_back_to_the_rota(console: Console) -> None:
    page = console.page
    visit_id = await _visit(console, 0, minutes=120)
    await _rota(console)
    row = page.locator(f'tr[data-visit-id="{visit_id}"]')
    start = row.get_by_label("New start time")
    await start.evaluate("input => input.removeAttribute('pattern')")  # as an older browser would send it
    await start.fill("25:99")
    await row.get_by_role("button", name="Move the visit").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cannot do that")
    await expect(page.locator("main")).to_contain_text("24-hour HH:MM")
    await page.get_by_role("link", name="Back to the rota").click()
    await expect(page.locator(f'tr[data-visit-id="{visit_id}"]')).to_be_visible()


async def test_adding_a_carer_who_is_busy_then_asks_first(console: Console) -> None:
    page = console.page
    amara, ben = console.agency.carers
    await _visit(console, 0, minutes=180)
    theirs = await _visit(console, 1, minutes=190, client=1)  # Ben's visit, while Amara is busy
    await _rota(console)
    row = page.locator(f'tr[data-visit-id="{theirs}"]')
    await row.get_by_role("combobox", name="Add a carer").fill(amara.name)
    await page.keyboard.press("Enter")
    await row.get_by_role("button", name="Reassign").click()
    await expect(page.locator(".warnings")).to_contain_text(f"{amara.name} has another visit then")
    await page.get_by_role("button", name="Go ahead anyway").click()
    await expect(page.get_by_role("status")).to_contain_text("Carers changed")
    view = await console.running.node.rota.get_visit(console.agency.admin, theirs)
    assert sorted(view.carer_ids) == sorted([amara.id, ben.id])
