"""Cases about gaps: a missing change found in a later change or a heartbeat's head is
fetched with a standard sync (docs/protocol.md §2, §3)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext


@case(
    "gap.change-repaired",
    Level.MUST,
    "§2",
    "A change past a missing one is not applied; a standard sync fetches the missing changes in order.",
)
async def gap_change_repaired(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    _epoch, head = await ctx.office.head()
    ctx.proxy.faults.drop_change_seqs.add(head + 1)
    await ctx.office.changes(2)
    await ctx.wait_level(timeout=5.0)


@case(
    "gap.heartbeat-repaired",
    Level.MUST,
    "§3",
    "A heartbeat head beyond the stored seq (the last push was lost) starts a standard sync.",
)
async def gap_heartbeat_repaired(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    _epoch, head = await ctx.office.head()
    ctx.proxy.faults.drop_change_seqs.add(head + 1)
    await ctx.office.change_visit()
    await ctx.wait_level(timeout=6.0)
