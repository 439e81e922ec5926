"""In a real browser: an open notifications page whose session is ended elsewhere (an
admin's password reset here) goes back to sign-in with the server's notice."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.browser import chromium, sign_in
from tests.security.conftest import PASSWORD, World


async def test_an_ended_session_sends_the_open_page_to_sign_in(world: World) -> None:
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        await sign_in(page, world.running.base_url, world.coordinator_login, PASSWORD)
        await expect(page.locator("body")).to_contain_text("Notifications")
        await world.running.node.staff_auth.set_password(
            world.agency.tenant_id, world.coordinator_id, world.coordinator_login, "a brand new passphrase"
        )
        await page.wait_for_url("**/console/sign-in?message=expired", timeout=15_000)
        await expect(page.locator("body")).to_contain_text("Your session has expired")
        await context.close()
