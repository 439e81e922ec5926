"""Cases about ``hello`` and every ``welcome`` action (docs/protocol.md §3, §4a, §7.3)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check


async def _welcomes(ctx: CaseContext, count: int) -> None:
    await ctx.wait_frame(
        lambda f: f.type == "welcome" and len(ctx.log.of_type("welcome", "server")) >= count,
        f"{count} welcome frame(s) (the client connected {count} time(s))",
    )


@case(
    "hello.first-frame",
    Level.MUST,
    "§3",
    "The first frame on every connection is a hello with protocol_version 1 and the device's UUID.",
)
async def hello_first_frame(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.restart_node()
    await _welcomes(ctx, 2)
    for relay in ctx.proxy.relays:
        if not relay.websocket:
            continue
        sent = [f for f in ctx.log.frames if f.connection == relay.number and f.direction == "device"]
        first = sent[0] if sent else None
        check(first is not None and first.type == "hello", "a hello first", first.text if first else "nothing sent")
        assert first is not None and first.body is not None
        check(first.body.get("protocol_version") == 1, "protocol_version 1", first.text)
        check(first.body.get("device_uuid") == ctx.client.launch.uuid, "the device's UUID", first.text)


@case(
    "hello.reports-positions",
    Level.MUST,
    "§7.3",
    "On reconnect, hello carries the stored position of every feed the client tracks.",
)
async def hello_reports_positions(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.office.changes(2)
    level = await ctx.wait_level()
    await ctx.restart_node()
    await _welcomes(ctx, 2)
    hello = ctx.log.of_type("hello", "device")[-1]
    held = level.positions[ctx.feed]
    reported = hello.position_of(ctx.feed)
    check(reported == held, f"position {held[0]}:{held[1]} in the hello", f"{reported} in {hello.text}")


@case(
    "welcome.catch-up",
    Level.MUST,
    "§3",
    "A new client is replayed its feed from seq 1 (action catch_up) and holds every visit at the head.",
)
async def welcome_catch_up(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()


@case(
    "welcome.reset",
    Level.MUST,
    "§3",
    "After the node's database is restored behind the client (action reset), the client drops the feed and replays it.",
)
async def welcome_reset(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.stop_node()
    ctx.nut.backup("backup")
    await ctx.start_node()
    await ctx.office.changes(2)
    await ctx.wait_level()
    await ctx.stop_node()
    ctx.nut.restore("backup")
    await ctx.start_node()
    await ctx.wait_frame(
        lambda f: f.type == "welcome" and any(s.get("action") == "reset" for s in (f.body or {}).get("feeds", [])),
        "a welcome with action reset",
    )
    await ctx.wait_level()


@case(
    "welcome.clean-sync",
    Level.MUST,
    "§4a",
    "A client welcomed with action clean_sync (the office asked while it was offline) clean-syncs by itself.",
)
async def welcome_clean_sync(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.client.request("offline")
    await ctx.office.demand_resync()
    await ctx.office.change_visit()
    await ctx.client.request("online")
    await ctx.wait_frame(lambda f: f.type == "clean_sync_request", "a clean_sync_request from the client")
    await ctx.wait_level()
    await ctx.wait_until_served_resync()


@case(
    "resync.live-demand",
    Level.MUST,
    "§4a",
    "A connected client told resync_required clean-syncs the feed by itself.",
)
async def resync_live_demand(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.demand_resync()
    await ctx.wait_frame(lambda f: f.type == "clean_sync_request", "a clean_sync_request from the client")
    await ctx.wait_until_served_resync()
    await ctx.wait_level()
