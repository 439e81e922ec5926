"""Cases about close codes: reconnect after the reconnect range, never after the terminal
range (docs/protocol.md §3, §7.2, §7.3)."""

from __future__ import annotations

import dataclasses

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check

NO_RECONNECT_WATCH_S = 3.0
"""How long the kit watches for a reconnect that must not come."""


async def _no_reconnect(ctx: CaseContext, code: int) -> None:
    await ctx.wait_frame(
        lambda f: f.direction == "proxy" and f"closed the WebSocket: {code}" in f.text, f"close {code}"
    )
    opened = ctx.proxy.websocket_connections
    await ctx.settle(NO_RECONNECT_WATCH_S)
    again = ctx.proxy.websocket_connections - opened
    check(again == 0, f"no reconnect within {NO_RECONNECT_WATCH_S:.0f} s of a {code} close", f"{again} reconnect(s)")


@case(
    "close.4000-reconnects",
    Level.MUST,
    "§7.3",
    "Closed with 4000 by a draining node, the client reconnects, resumes and receives later changes.",
)
async def close_4000_reconnects(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.restart_node()
    await ctx.wait_frame(lambda f: "closed the WebSocket: 4000" in f.text, "close 4000")
    await ctx.wait_frame(lambda f: len(ctx.log.of_type("welcome", "server")) >= 2, "a welcome after reconnecting")
    await ctx.office.change_visit()
    await ctx.wait_level()


@case(
    "close.4101-terminal",
    Level.MUST,
    "§7.2",
    "Closed with 4101 (device revoked while connected), the client does not reconnect.",
)
async def close_4101_terminal(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.revoke_device()
    await _no_reconnect(ctx, 4101)


@case(
    "close.4100-terminal",
    Level.MUST,
    "§7.2",
    "Closed with 4100 (a token the node does not know), the client does not reconnect.",
)
async def close_4100_terminal(ctx: CaseContext) -> None:
    await ctx.kill_client()
    ctx.client.launch = dataclasses.replace(ctx.client.launch, token="cdt_not-a-token-of-this-node")
    await ctx.client.spawn()
    await ctx.start_client(connected=False)
    await _no_reconnect(ctx, 4100)


@case(
    "close.4004-follows-feeds",
    Level.MUST,
    "§3",
    "Closed with 4004 (its carers changed), the client reconnects and follows the new set of feeds.",
)
async def close_4004_follows_feeds(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    assert ctx.nut.agency is not None
    other = ctx.nut.agency.carers[1].id
    await ctx.office.assign_carers([ctx.feed, other])
    await ctx.wait_frame(lambda f: "closed the WebSocket: 4004" in f.text, "close 4004")
    await ctx.wait_level(feed=other)
    await ctx.wait_level()


@case(
    "close.cut-mid-frame",
    Level.MUST,
    "§7.3",
    "A connection cut halfway through a frame is a network error: the client reconnects and comes level.",
)
async def close_cut_mid_frame(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    ctx.proxy.faults.cut_mid_frame = True
    await ctx.office.change_visit()
    await ctx.wait_frame(lambda f: "cut halfway" in f.text, "the cut")
    await ctx.wait_level()
