"""The TypeScript SDK's built ES modules in a real browser (Debian's Chromium): a page opens
the IndexedDB store, connects to a real caresync node, receives a pushed change, and still
holds it, with its position, after a reload."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.e2e.browser import chromium
from tests.sdk_typescript.static_server import static_server

pytestmark = pytest.mark.e2e


async def test_a_pushed_change_lands_in_indexeddb_and_survives_a_reload(
    running: RunningServer, typescript_dist: Path
) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    visit_id = carer.visit_ids[0]
    ws_url = f"ws://127.0.0.1:{running.port}/ws/device"
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        with static_server(typescript_dist.parent) as base:
            await page.goto(base)
            await page.wait_for_function("window.ready === true")
            await page.evaluate(
                "([url, token, uuid]) => window.startDevice(url, token, uuid)",
                [ws_url, carer.device_token, carer.device_uuid],
            )
            await page.wait_for_function("window.changes.length === 4", timeout=10_000)

            async with running.http(agency.admin_token) as http:
                visit = (await http.get(f"/api/v1/visits/{visit_id}")).json()
                moved = {key: _later(visit[key]) for key in ("starts_at", "ends_at")}
                response = await http.post(f"/api/v1/visits/{visit_id}/reschedule", json=moved)
                assert response.status_code == 200, response.text
            await page.wait_for_function(
                "(id) => window.changes.some((c) => c.seq === 5 && c.payload.visit.id === id)", arg=visit_id
            )

            await page.reload()
            await page.wait_for_function("window.ready === true")
            held: dict[str, Any] = await page.evaluate("() => window.held()")
        assert errors == []
    assert held["positions"] == [{"feed": carer.id, "epoch": 1, "seq": 5}]
    by_id = {v["id"]: v for v in held["visits"]}
    assert set(by_id) == set(carer.visit_ids)
    assert by_id[visit_id]["starts_at"] == moved["starts_at"]


def _later(text: str) -> str:
    """A server time 30 minutes later, in the server's own fixed-width form."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(minutes=30)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def test_the_indexeddb_store_killed_mid_apply_and_mid_upload_keeps_every_commit_whole(
    typescript_dist: Path,
) -> None:
    async with chromium() as browser:
        context = await browser.new_context()
        with static_server(typescript_dist.parent) as base:
            writer = await context.new_page()
            crashed: list[bool] = []
            writer.on("crash", lambda _page: crashed.append(True))
            await writer.goto(base)
            await writer.wait_for_function("window.ready === true")
            await writer.evaluate("() => { void window.writeUntilKilled('killed'); }")
            await writer.wait_for_function("window.progress.applied >= 25")
            floor: dict[str, Any] = await writer.evaluate("() => structuredClone(window.progress)")
            cdp = await context.new_cdp_session(writer)
            async with writer.expect_event("crash"):
                crash = asyncio.ensure_future(cdp.send("Page.crash"))  # the renderer dies mid-transaction
            crash.cancel()  # the dead renderer never answers
            with contextlib.suppress(asyncio.CancelledError, PlaywrightError):
                await crash

            assert crashed == [True], "the writer's renderer was killed"
            reader = await context.new_page()
            await reader.goto(base)
            await reader.wait_for_function("window.ready === true")
            held: dict[str, Any] = await reader.evaluate("() => window.heldIn('killed')")
        await context.close()
    [position] = held["positions"]
    seq = position["seq"]
    assert seq >= floor["applied"], "no applied change lost"
    assert sorted(v["id"] for v in held["visits"]) == sorted(f"v{i}" for i in range(1, seq + 1)), "data with position"
    assert set(floor["answered"]) <= set(held["answered"]), "no answer lost"
    everything = sorted(held["pending"] + held["answered"])
    assert everything == list(range(1, len(everything) + 1)), "every recording kept once, ids in order"
    assert len(everything) >= floor["recorded"]
