"""Cases about live pushes: applied in order, duplicates ignored (docs/protocol.md §2)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check


@case(
    "push.in-order",
    Level.MUST,
    "§2",
    "Changes pushed live are applied in seq order, each with its data, and acknowledged in order.",
)
async def push_in_order(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.changes(5)
    await ctx.wait_level()
    acked = [int((f.body or {}).get("seq", -1)) for f in ctx.log.of_type("ack", "device")]
    check(acked == sorted(acked), "acks in increasing seq order", f"acks {acked}")


@case(
    "push.duplicate-ignored",
    Level.MUST,
    "§2",
    "A change at or below the stored seq (sent twice, or an old one again) is ignored.",
)
async def push_duplicate_ignored(ctx: CaseContext) -> None:
    await ctx.start_client()
    _epoch, head = await ctx.office.head()
    await ctx.wait_level()
    ctx.proxy.faults.duplicate_change_seqs.add(head + 1)
    await ctx.office.change_visit(0)
    await ctx.wait_level()
    older = [f for f in ctx.log.of_type("change", "server") if (f.body or {}).get("seq") == head + 1][-1]
    await ctx.office.change_visit(0)
    await ctx.wait_level()
    ctx.proxy.inject(older.text)
    await ctx.settle(0.5)
    await ctx.wait_level(timeout=2.0)
