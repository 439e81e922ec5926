"""Cases about the closes that name their own wait, and the slow-consumer close
(docs/protocol.md §7.2, §7.3). The proxy closes the socket as the node would, with the
node's own reasons, and times the client's next connection."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import LEVEL_TIMEOUT_S, CaseContext, check
from server.conformance.frame_log import SeenFrame

DRAIN_WAIT_MS = 1000
"""The ``reconnect_after_ms`` of the 4000 close: the most a draining node names."""
RETRY_HINT_S = 2
"""The ``retry in N s`` of the 4003 close."""
EARLY_SLACK_S = 0.05
"""How much sooner than the named wait a reconnect may be seen (timer granularity)."""


def _opened(frame: SeenFrame) -> bool:
    return frame.direction == "proxy" and frame.text == "WebSocket connection opened"


async def _close_and_time_reconnect(ctx: CaseContext, code: int, reason: str) -> float:
    """Close the client's socket with ``code`` and ``reason``; the seconds until it opened the next one."""
    await ctx.start_client()
    await ctx.wait_level()
    before = len(ctx.log.matching(_opened))
    check(await ctx.proxy.close_as_node(code, reason) == 1, "one open connection to close", "none open")
    closed_at = ctx.log.matching(lambda f: f.text.startswith(f"proxy closed the WebSocket: {code}"))[-1].at_s
    await ctx.wait_frame(
        lambda f: _opened(f) and len(ctx.log.matching(_opened)) > before,
        f"a reconnect after the {code} close",
        timeout=LEVEL_TIMEOUT_S + RETRY_HINT_S,
    )
    return ctx.log.matching(_opened)[before].at_s - closed_at


@case(
    "close.4001-reconnects",
    Level.MUST,
    "§7.2",
    "Closed with 4001 (slow consumer), the client reconnects, resumes and receives later changes.",
)
async def close_4001_reconnects(ctx: CaseContext) -> None:
    await _close_and_time_reconnect(ctx, 4001, "slow consumer: send queue full")
    await ctx.office.change_visit()
    await ctx.wait_level()


@case(
    "close.4003-waits-retry-hint",
    Level.MUST,
    "§7.3",
    "Closed with 4003 and 'retry in N s' (the node's database is down), the client waits N s, then reconnects.",
)
async def close_4003_waits_retry_hint(ctx: CaseContext) -> None:
    reason = f"the database is unavailable (OperationalError); retry in {RETRY_HINT_S} s"
    waited = await _close_and_time_reconnect(ctx, 4003, reason)
    check(
        waited >= RETRY_HINT_S - EARLY_SLACK_S,
        f"the next connection at least {RETRY_HINT_S} s after the 4003 close",
        f"it came after {waited:.2f} s",
    )
    await ctx.office.change_visit()
    await ctx.wait_level()


@case(
    "close.4000-waits-reconnect-after",
    Level.MUST,
    "§7.3",
    "Closed with 4000 and reconnect_after_ms=N (a draining node), the client waits N ms, then reconnects.",
)
async def close_4000_waits_reconnect_after(ctx: CaseContext) -> None:
    reason = f"server shutting down; reconnect_after_ms={DRAIN_WAIT_MS}"
    waited = await _close_and_time_reconnect(ctx, 4000, reason)
    check(
        waited >= DRAIN_WAIT_MS / 1000 - EARLY_SLACK_S,
        f"the next connection at least {DRAIN_WAIT_MS} ms after the 4000 close",
        f"it came after {waited:.2f} s",
    )
    await ctx.office.change_visit()
    await ctx.wait_level()
