"""Cases about the device's token: enrolled again, the client keeps its data and the new
token (docs/protocol.md §8.1)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check


@case(
    "enrol.new-token-resumes",
    Level.MUST,
    "§8.1",
    "Enrolled again after a revoke, the client keeps its data and resumes with the new token, also once restarted.",
)
async def enrol_new_token_resumes(ctx: CaseContext) -> None:
    await ctx.start_client()
    held = await ctx.wait_level()
    before = held.positions[ctx.feed]
    await ctx.office.revoke_device()
    await ctx.wait_state(lambda s: s.stopped == 4101, "the client stopped on 4101")
    await ctx.office.changes(2)
    hellos = len(ctx.log.of_type("hello", "device"))
    await ctx.client.request("enrol", code=await ctx.office.enrolment_code())
    await ctx.wait_state(lambda s: s.connected, "the client to connect with its new token and be welcomed")
    first = ctx.log.of_type("hello", "device")[hellos]
    check(
        first.position_of(ctx.feed) == before,
        f"the first hello with the new token to report the stored position {before[0]}:{before[1]}",
        f"it reported {first.position_of(ctx.feed)}",
    )
    await ctx.wait_level()
    await ctx.kill_client()
    await ctx.restart_client()
    await ctx.office.change_visit(1)
    await ctx.wait_level()
