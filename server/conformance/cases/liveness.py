"""Cases about a connection that fails quietly: a socket gone silent, a network that
refuses every connection (docs/protocol.md §3, §7.3)."""

from __future__ import annotations

import asyncio

from protocol.liveness import silence_limit_s
from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check
from server.conformance.node_under_test import HEARTBEAT_INTERVAL_S

SILENCE_SLACK_S = 5.0
"""Beyond the silence limit, the time the client may take to notice and dial again."""
REFUSED_SHORT_S = 3.0
REFUSED_WINDOW_S = 8.0
MAX_TRIES_IN_WINDOW = 6
"""Backoff from 0.5 s doubling (half to all of each step) dials at most 5 times in 8 s;
a client that retries every second or faster dials 8 or more."""


@case(
    "heartbeat.silence-reconnects",
    Level.SHOULD,
    "§3",
    "A socket on which nothing arrives for two heartbeat intervals and 5 s is treated as lost: the client reconnects.",
)
async def silence_reconnects(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    opened = ctx.proxy.websocket_connections
    check(bool(ctx.proxy.silence_open()), "an open connection to silence", "none open")
    limit = silence_limit_s(HEARTBEAT_INTERVAL_S)
    await ctx.wait_state(
        lambda s: ctx.proxy.websocket_connections > opened and s.connected,
        f"a new connection, welcomed, after {limit:.0f} s of silence",
        timeout=limit + SILENCE_SLACK_S,
    )
    await ctx.office.change_visit()
    await ctx.wait_level()


async def _network_down(ctx: CaseContext, seconds: float) -> int:
    """Cut every connection and refuse new ones for ``seconds``; return the dials refused."""
    ctx.proxy.faults.refusing = True
    before = ctx.proxy.connections_tried
    ctx.proxy.cut_all("the network is down")
    await asyncio.sleep(seconds)
    ctx.proxy.faults.refusing = False
    return ctx.proxy.connections_tried - before


@case(
    "reconnect.after-refused-dials",
    Level.MUST,
    "§7.3",
    "Dials that fail (the connection dropped before the handshake's answer) never stop the client reconnecting.",
)
async def reconnect_after_refused_dials(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    tries = await _network_down(ctx, REFUSED_SHORT_S)
    check(tries >= 1, "the client to dial while the network is down", "no attempt")
    await ctx.office.change_visit()
    await ctx.wait_level(timeout=20.0)


@case(
    "reconnect.backoff",
    Level.SHOULD,
    "§7.3",
    "While every connection fails, the client dials again with a growing backoff, then reconnects once it can.",
)
async def reconnect_backoff(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    tries = await _network_down(ctx, REFUSED_WINDOW_S)
    check(
        1 <= tries <= MAX_TRIES_IN_WINDOW,
        f"1 to {MAX_TRIES_IN_WINDOW} connection attempts in the {REFUSED_WINDOW_S:.0f} s the network was down",
        f"{tries} attempts",
    )
    await ctx.office.change_visit()
    await ctx.wait_level(timeout=30.0)
