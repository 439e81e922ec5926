"""The office web console in a real browser (headless Chromium driven by Playwright)."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from server.clock import ManualClock, to_datetime
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.rota import NewTask
from server.store.schema import mismatch_alerts
from tests.conftest import RunningServer
from tests.e2e.browser import chromium, screenshot, sign_in
from tests.support import eventually, make_device

PASSWORD = "correct horse battery"
GRACE_S = 120
DOCS = Path(__file__).parents[2] / "docs"


@dataclass
class Console:
    running: RunningServer
    agency: SeededAgency
    clock: ManualClock
    page: Page
    context: BrowserContext
    login: str

    async def detect(self) -> None:
        self.clock.advance(GRACE_S + 1)
        await self.running.node.presence.step()
        await self.running.node.activity.flush()
        await self.running.node.mismatch.run_once()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def _coordinator(node: Node, agency: SeededAgency, branch_id: str, login: str, name: str = "Cora") -> str:
    user_id = await node.directory.create_user(agency.tenant_id, branch_id, name, "coordinator")
    await node.staff_auth.set_password(agency.tenant_id, user_id, login, PASSWORD)
    return user_id


@pytest.fixture
async def console(clocked: RunningServer, browser: Browser) -> AsyncIterator[Console]:
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    agency = await seed_agency(clocked.node, carers=2, visits_per_carer=0, day=to_datetime(clock.now_ms()))
    await _coordinator(clocked.node, agency, agency.branch_id, "cora@north.test")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, clocked.base_url, "cora@north.test", PASSWORD)
    yield Console(clocked, agency, clock, page, context, "cora@north.test")
    await context.close()


async def _visit(console: Console, carer_index: int, minutes: int, client: int = 0) -> str:
    start = to_datetime(console.clock.now_ms()) + timedelta(minutes=minutes)
    view = await console.running.node.rota.create_visit(
        console.agency.admin,
        client_id=console.agency.client_ids[client],
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        carer_ids=[console.agency.carers[carer_index].id],
        tasks_=[NewTask("Medication")],
    )
    return view.id


async def test_rota_change_in_the_page_reaches_the_device(console: Console, tmp_path: Path) -> None:
    carer = console.agency.carers[0]
    visit_id = await _visit(console, 0, minutes=120)
    device = await make_device(console.running, carer, tmp_path)
    try:
        await eventually(lambda: device.store.visit(carer.id, visit_id) is not None)
        page = console.page
        await page.get_by_role("button", name="Menu").click()
        await page.get_by_role("link", name="Rota").click()
        row = page.locator(f'tr[data-visit-id="{visit_id}"]')
        await expect(row).to_be_visible()
        await screenshot(page, "rota")
        before = device.store.visit(carer.id, visit_id)
        assert before is not None
        await row.get_by_label("New start time").fill("23:45")
        await row.get_by_role("button", name="Move the visit").click()
        await expect(page.get_by_role("status")).to_contain_text("Visit rescheduled")
        await eventually(lambda: device.store.visit(carer.id, visit_id).starts_at != before.starts_at)  # type: ignore[union-attr]
    finally:
        await device.stop()


async def test_alerts_appear_live_close_with_x_and_resolve_on_ack(console: Console, tmp_path: Path) -> None:
    page = console.page
    await expect(page.locator("#live")).to_have_text("Live")
    await _visit(console, 0, minutes=30)
    await _visit(console, 1, minutes=300, client=1)
    await console.detect()
    cards = page.locator("li.alert")
    await expect(cards).to_have_count(2)
    first = cards.nth(0)
    await expect(first).to_contain_text(console.agency.carers[0].name)
    await expect(first).to_contain_text("starts in 27 min")
    await expect(first).to_contain_text("phone offline")
    await expect(first).to_contain_text("manual sync with the app open and the screen on")
    shot = await screenshot(page, "notifications")
    if os.environ.get("CARESYNC_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on demand
        shutil.copy(shot, DOCS / "console-notifications.png")

    await first.get_by_role("button", name=f"Close the alert for {console.agency.carers[0].name}").click()
    await expect(cards).to_have_count(1)
    async with console.running.node.db.read() as conn:
        closed = (await conn.execute(select(mismatch_alerts).where(mismatch_alerts.c.status == "dismissed"))).all()
    assert len(closed) == 1
    assert closed[0].closed_by is not None

    device = await make_device(console.running, console.agency.carers[1], tmp_path)
    try:
        await expect(cards).to_have_count(0, timeout=10_000)
        await expect(page.locator("#empty")).to_be_visible()
    finally:
        await device.stop()


async def test_report_shows_the_last_sync_and_downloads_the_same_rows(console: Console, tmp_path: Path) -> None:
    carer = console.agency.carers[0]
    device = await make_device(console.running, carer, tmp_path)
    await device.sync()
    await device.stop()
    await console.running.node.activity.flush()
    page = console.page
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("link", name="User Device Relationship").click()
    row = page.locator(f'tr[data-device-id="{carer.device_id}"]')
    synced = to_datetime(console.clock.now_ms()).strftime("%d %b %Y %H:%M:%S")
    await expect(row.locator("td.last-sync")).to_have_text(synced)
    await screenshot(page, "report")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    path = tmp_path / "report.csv"
    await download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    table_ids = await page.locator("#report tbody tr").evaluate_all("rows => rows.map(r => r.dataset.deviceId)")
    assert [r["device_id"] for r in rows] == table_ids
    assert len(rows) == 2


async def test_a_coordinator_sees_nothing_of_another_branch(console: Console, browser: Browser) -> None:
    node = console.running.node
    agency = console.agency
    south = await node.directory.create_branch(agency.tenant_id, "South")
    south_carer = await node.directory.create_user(agency.tenant_id, south, "Sam South", "carer")
    await node.directory.create_client(agency.tenant_id, south, "Mr South")
    await _coordinator(node, agency, south, "sid@south.test", "Sid")
    page = console.page
    for path in (
        f"/console/rota?branch_id={south}",
        f"/console/carers/{south_carer}",
        f"/console/reports/devices?branch_id={south}",
    ):
        response = await page.goto(console.running.base_url + path)
        assert response is not None
        assert response.status in (403, 404), path
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            ["Not allowed", "Not found"][response.status == 404]
        )
    await page.goto(console.running.base_url + "/console/reports/devices")
    await expect(page.locator("#report")).not_to_contain_text("South")
    await page.goto(console.running.base_url + "/console/rota")
    await expect(page.locator("select[name=branch_id] option")).to_have_count(1)


async def test_live_indicator_follows_the_server(console: Console) -> None:
    page = console.page
    indicator = page.locator("#live")
    await expect(indicator).to_have_text("Live")
    running = console.running
    port = running.port
    await stop_server(running)
    await expect(indicator).to_have_text("Disconnected: reconnecting…", timeout=10_000)
    await screenshot(page, "disconnected")
    restarted = await start_server(Node.build(running.node.settings, clock=console.clock), port)
    try:
        await expect(indicator).to_have_text("Live", timeout=20_000)
    finally:
        await stop_server(restarted)


async def test_forged_cookies_cross_site_posts_and_injection(console: Console, browser: Browser) -> None:
    node = console.running.node
    agency = console.agency
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
    carer_id = await node.directory.create_user(agency.tenant_id, agency.branch_id, evil, "carer")
    client_id = await node.directory.create_client(agency.tenant_id, agency.branch_id, evil)
    start = to_datetime(console.clock.now_ms()) + timedelta(minutes=30)
    visit = await node.rota.create_visit(
        agency.admin,
        client_id=client_id,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        carer_ids=[carer_id],
        tasks_=[],
    )
    await console.detect()
    page = console.page
    await expect(page.locator("li.alert")).to_have_count(1)
    await expect(page.locator("li.alert")).to_contain_text(evil)
    for path in ("/console/notifications", "/console/rota", f"/console/carers/{carer_id}", "/console/reports/devices"):
        await page.goto(console.running.base_url + path)
        await expect(page.locator("main")).to_contain_text(evil)
        assert await page.evaluate("window.__pwned") is None, path

    # A cross-site form post (no CSRF token, foreign Origin) changes nothing.
    cookies = await console.context.cookies()
    session = next(c for c in cookies if c["name"] == "caresync_session")
    request = console.page.request
    forged = await request.post(
        f"{console.running.base_url}/console/rota/visits/{visit.id}/cancel",
        headers={"origin": "http://evil.example", "cookie": f"caresync_session={session['value']}"},
        form={"csrf_token": "guess"},
    )
    assert forged.status == 403
    dismissed = await request.post(
        f"{console.running.base_url}/console/alerts/x/dismiss", headers={"x-csrf-token": "guess"}
    )
    assert dismissed.status == 403
    assert (await node.rota.get_visit(agency.admin, visit.id)).status == "scheduled"

    # A forged session cookie gets the sign-in page, not the console.
    stranger = await browser.new_context()
    await stranger.add_cookies([{"name": "caresync_session", "value": "cst_forged", "url": console.running.base_url}])
    other = await stranger.new_page()
    await other.goto(console.running.base_url + "/console/notifications")
    await expect(other).to_have_url(f"{console.running.base_url}/console/sign-in?message=sign-in")
    await stranger.close()
