"""Getting a coordinator's attention in Chromium: the number of open high alerts in the
tab title; an opt-in sound and desktop notification for each new high alert; the carer's
phone number and notes in the alert ("To reach ..."), set on the carer's page; one time
format from the server and the page script."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.test_console_browser import Console, _visit, browser, console

__all__ = ["browser", "console"]

# The page's Notification and AudioContext, recorded instead of shown or played.
RECORDER = """
window.__notified = [];
window.__beeps = 0;
class FakeNotification {
  static permission = "default";
  static async requestPermission() { FakeNotification.permission = "granted"; return "granted"; }
  constructor(title, options) { window.__notified.push({ title, body: options && options.body }); }
}
window.Notification = FakeNotification;
class FakeAudio {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() {
    return { frequency: {}, connect: (n) => n, start: () => { window.__beeps += 1; }, stop: () => {},
             addEventListener: () => {} };
  }
  createGain() { return { gain: {}, connect: (n) => n }; }
  close() {}
}
window.AudioContext = FakeAudio;
"""


async def test_title_count_opt_in_notification_and_contact_in_the_alert(console: Console) -> None:
    page = console.page
    carer = console.agency.carers[0]

    # The carer's phone number and notes, set on the carer's page.
    await page.goto(f"{console.running.base_url}/console/carers/{carer.id}")
    await page.get_by_label("Phone number").fill("07700 900123")
    await page.get_by_label("Notes (optional)").fill("text first")
    await page.get_by_role("button", name="Save contact").click()
    await expect(page.get_by_role("status")).to_contain_text("Contact saved")
    await expect(page.get_by_label("Phone number")).to_have_value("07700 900123")

    await page.add_init_script(RECORDER)
    await page.goto(f"{console.running.base_url}/console/notifications")
    await expect(page.locator("#live")).to_have_text("Live")
    await expect(page).to_have_title("Notifications · caresync")
    await page.get_by_label("Sound and desktop notification").check()

    await _visit(console, 0, minutes=30)
    await console.detect()
    card = page.locator("li.alert")
    await expect(card).to_have_count(1)
    await expect(card.locator(".reach")).to_contain_text(f"To reach {carer.name}: 07700 900123 (text first), phone")
    await expect(page).to_have_title("(1 high) Notifications · caresync")
    notified = await page.evaluate("window.__notified")
    assert notified == [{"title": f"High sync alert: {carer.name}", "body": notified[0]["body"]}]
    assert "Mrs Patel" in notified[0]["body"]
    assert await page.evaluate("window.__beeps") == 1
    live_raised = (await card.locator(".raised").inner_text()).strip()

    # The same card rendered by the server: the same words and the same time format.
    await page.reload()
    await expect(card.locator(".reach")).to_contain_text(f"To reach {carer.name}: 07700 900123 (text first), phone")
    assert (await card.locator(".raised").inner_text()).strip() == live_raised
    await expect(page).to_have_title("(1 high) Notifications · caresync")
    assert await page.evaluate("window.__notified") == []  # only new alerts notify

    # Without the opt-in, nothing is played or shown.
    await page.get_by_label("Sound and desktop notification").uncheck()
    await _visit(console, 1, minutes=20, client=1)
    await console.detect()
    await expect(card).to_have_count(2)
    await expect(page).to_have_title("(2 high) Notifications · caresync")
    assert await page.evaluate("window.__beeps") == 0
