"""The visit verification export in Chromium: a coordinator picks dates and their branch,
downloads CSV and JSON with what the phone recorded; a range too long is refused on the
form, keeping what was typed."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from protocol.frames import CheckIn, Location, SyncRequest
from server.clock import to_datetime
from server.services.rota import NewTask
from tests.e2e.test_console_browser import Console, browser, console
from tests.server.services.carer_seen import identity

__all__ = ["browser", "console"]


async def test_a_coordinator_downloads_the_export_and_is_told_when_a_range_is_too_long(
    console: Console, tmp_path: Path
) -> None:
    node = console.running.node
    agency = console.agency
    carer = agency.carers[0]
    start = to_datetime(console.clock.now_ms()).replace(microsecond=0) + timedelta(minutes=30)
    visit = await node.rota.create_visit(
        agency.admin, client_id=agency.client_ids[0], starts_at=start, ends_at=start + timedelta(minutes=45),
        carer_ids=[carer.id], tasks_=[NewTask("Medication")],
    )  # fmt: skip
    console.clock.advance(31 * 60)
    check_in = CheckIn(
        mutation_id=1, carer_id=carer.id, visit_id=visit.id, captured_at=to_datetime(console.clock.now_ms()),
        location=Location(lat=53.4808, lon=-2.2426, accuracy_m=9.0),
    )  # fmt: skip
    await node.sync.standard_sync(identity(agency), SyncRequest(request_id="r1", mutations=[check_in]))
    day = start.astimezone(ZoneInfo("Europe/London")).date().isoformat()

    page = console.page
    await page.goto(f"{console.running.base_url}/console/notifications")
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("link", name="Visit verification").click()
    await page.wait_for_url("**/console/reports/visit-verification")
    await page.get_by_label("From", exact=True).fill(day)
    await page.get_by_label("To", exact=True).fill(day)
    await expect(page.get_by_label("Branch")).to_have_value(agency.branch_id)  # a coordinator's only branch
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download CSV").click()
    download = await download_info.value
    assert download.suggested_filename == f"visit-verification-{agency.branch_id}-{day}-to-{day}.csv"
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(), newline="")))
    assert [(r["visit_id"], r["carer_name"], r["check_in_lat"], r["exceptions"]) for r in rows] == [
        (visit.id, carer.name, "53.4808", "")
    ]

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download JSON").click()
    saved = tmp_path / "export.json"
    await (await download_info.value).save_as(saved)
    exported = json.loads(saved.read_text())
    assert (exported["branch_id"], [v["visit_status"] for v in exported["visits"]]) == (
        agency.branch_id,
        ["in_progress"],
    )

    await page.goto(f"{console.running.base_url}/console/reports/visit-verification")
    await page.get_by_label("From", exact=True).fill("2026-01-01")
    await page.get_by_label("To", exact=True).fill("2026-06-30")
    await page.get_by_role("button", name="Download CSV").click()
    await expect(page.locator("#export-error")).to_contain_text("covers 181 days; an export covers at most 92 days")
    await expect(page.get_by_label("From", exact=True)).to_have_value("2026-01-01")
