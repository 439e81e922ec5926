"""The console's devices page in Chromium: enrol a phone for a carer with a one-time code
(text and QR code) and see it connect; revoke, deactivate, reactivate and rename it, each
confirmed and recorded with who did it; a coordinator sees only their branch's phones."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.async_api import Dialog, expect

from client_sdk import Device
from client_sdk.backoff import Backoff
from client_sdk.enrolment import enrol
from protocol.errors import CloseCode
from tests.e2e.browser import screenshot
from tests.e2e.test_console_browser import Console, browser, console
from tests.support import eventually

__all__ = ["browser", "console"]


async def _devices(console: Console) -> None:
    await console.page.goto(f"{console.running.base_url}/console/devices")


def _accept_and_keep(messages: list[str]):  # type: ignore[no-untyped-def]
    async def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        await dialog.accept()

    return accept


async def test_enrol_a_phone_from_the_console_then_revoke_it(console: Console, tmp_path: Path) -> None:
    page = console.page
    carer = console.agency.carers[0]
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("link", name="Devices").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Devices")
    enrolment = page.locator("section.enrol")
    await enrolment.get_by_label("Carer", exact=True).select_option(label=carer.name)
    await enrolment.get_by_label("Device name").fill("Amara's new phone")
    await page.get_by_role("button", name="Create enrolment code").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Enrol Amara's new phone")
    code = (await page.locator("#enrolment-code").inner_text()).strip()
    assert len(code) == 14
    await expect(page.locator(".qr svg title")).to_have_text("QR code to enrol Amara's new phone")
    await screenshot(page, "enrolment")

    device_uuid = str(uuid.uuid4())
    enrolled = await enrol(console.running.base_url, code, device_uuid)
    phone = Device(
        console.running.ws_url, enrolled.token, device_uuid, tmp_path / "phone.db", backoff=Backoff(0.05, 0.5)
    )
    await phone.start()
    try:
        await _devices(console)
        row = page.locator(f'tr[data-device-id="{enrolled.device_id}"]')
        await expect(row.locator(".state")).to_have_text("active")
        await expect(row).to_contain_text(carer.name)
        await expect(row).to_contain_text("North")  # the carer's branch, without being told
        await screenshot(page, "devices")

        asked: list[str] = []
        page.once("dialog", _accept_and_keep(asked))
        await row.get_by_role("button", name="Revoke Amara's new phone").click()
        await expect(page.get_by_role("status")).to_contain_text("Device revoked")
        assert asked and "Revoke Amara's new phone?" in asked[0]
        await eventually(lambda: phone.stopped_by is not None)
        assert phone.stopped_by is not None and phone.stopped_by.code == CloseCode.DEVICE_REVOKED
        await expect(page.locator(f'tr[data-device-id="{enrolled.device_id}"] .state')).to_have_text("revoked")
        await expect(page.locator("#device-history")).to_contain_text("Cora revoked Amara's new phone")
        await expect(page.locator("#device-history")).to_contain_text("Cora registered Amara's new phone")
    finally:
        await phone.stop()


async def test_deactivate_asks_first_then_reactivate_and_rename(console: Console) -> None:
    page = console.page
    carer = console.agency.carers[1]
    await _devices(console)
    row = page.locator(f'tr[data-device-id="{carer.device_id}"]')
    name = f"{carer.name}'s phone"

    page.once("dialog", lambda dialog: dialog.dismiss())
    await row.get_by_role("button", name=f"Deactivate {name}").click()
    await expect(row.locator(".state")).to_have_text("active")

    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name=f"Deactivate {name}").click()
    await expect(page.get_by_role("status")).to_contain_text("Device deactivated")
    await expect(row.locator(".state")).to_have_text("deactivated")

    console.clock.advance(1)  # one audit entry per moment, so the newest is first
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name=f"Reactivate {name}").click()
    await expect(row.locator(".state")).to_have_text("active")

    console.clock.advance(1)
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_label(f"New name for {name}").fill("Ben's work phone")
    await row.get_by_role("button", name="Rename").click()
    await expect(page.get_by_role("status")).to_contain_text("Device renamed")
    await expect(row.locator(".device-name")).to_have_text("Ben's work phone")
    await expect(page.locator("#device-history li").first).to_contain_text(
        f"renamed Ben's work phone ({name} → Ben's work phone)"
    )

    await page.goto(f"{console.running.base_url}/console/devices?state=deactivated")
    await expect(page.locator("#devices tbody tr")).to_have_text(["No devices."])


async def test_a_coordinator_sees_a_branchless_phone_of_their_carer_but_not_other_branches(console: Console) -> None:
    node = console.running.node
    agency = console.agency
    carer = agency.carers[0]
    loose = await node.devices.create_device(agency.tenant_id, name="Loose phone", carer_ids=[], issue_token=False)
    await node.devices.assign(agency.tenant_id, loose.device_id, [carer.id], None)  # no branch of its own
    south = await node.directory.create_branch(agency.tenant_id, "South")
    sam = await node.directory.create_user(agency.tenant_id, south, "Sam South", "carer")
    far = await node.devices.create_device(agency.tenant_id, name="Sam's phone", carer_ids=[sam], issue_token=False)
    await _devices(console)
    page = console.page
    await expect(page.locator(f'tr[data-device-id="{loose.device_id}"]')).to_contain_text(carer.name)
    await expect(page.locator("#devices")).not_to_contain_text("Sam")
    forged = await page.request.post(
        f"{console.running.base_url}/console/devices/{far.device_id}/revoke",
        form={"csrf_token": await page.locator('meta[name="csrf-token"]').get_attribute("content") or ""},
    )
    assert forged.status == 404
    page2 = await console.context.new_page()
    await page2.goto(f"{console.running.base_url}/console/carers/{carer.id}")
    await expect(page2.locator("#devices")).to_contain_text("Loose phone")
    await page2.close()
