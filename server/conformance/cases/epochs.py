"""Cases about a feed moving to a new epoch while the client is connected (docs/protocol.md §2)."""

from __future__ import annotations

import uuid
from typing import Any

from server.conformance.case import Level, case
from server.conformance.context import CaseContext
from server.conformance.faults import Rewrite


def _phantom_visit(phantom_id: str) -> Rewrite:
    """A rewrite giving the first change of epoch 1 another visit id, pushed or in a
    ``sync_response``: the client then holds a visit the carer does not have (as when a
    removal was compacted away), which only dropping the feed's data on a reset gets rid of."""

    def first_change(change: Any) -> Any:
        if not isinstance(change, dict) or change.get("epoch") != 1 or change.get("seq") != 1:
            return change
        payload = change.get("payload")
        if not isinstance(payload, dict) or payload.get("kind") != "visit_upsert":
            return change
        return {**change, "payload": {**payload, "visit": {**payload["visit"], "id": phantom_id}}}

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("type") == "change":
            rewritten: dict[str, Any] = first_change(body)
            return rewritten
        if body.get("type") == "sync_response" and isinstance(body.get("changes"), list):
            return {**body, "changes": [first_change(change) for change in body["changes"]]}
        return body

    return rewrite


@case(
    "epoch.office-reset",
    Level.MUST,
    "§2",
    "Its feed reset by the office, the client drops it, replays the new epoch to the carer's visits and acks in it.",
)
async def epoch_office_reset(ctx: CaseContext) -> None:
    phantom = str(uuid.uuid4())
    ctx.proxy.faults.rewrite = _phantom_visit(phantom)
    await ctx.start_client()
    head = await ctx.office.head()
    await ctx.wait_state(
        lambda s: s.positions.get(ctx.feed) == head and phantom in s.visits.get(ctx.feed, {}),
        f"the client at {head[0]}:{head[1]} holding the rewritten visit {phantom}",
    )
    ctx.proxy.faults.rewrite = None
    await ctx.office.reset_feed()
    await ctx.wait_level()
    await ctx.wait_recorded_ack("the node to record the client's ack in the new epoch")
