"""Office actions on a carer's feed: reset it to a new epoch (docs/protocol.md, section 2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, staff_of
from server.services.feed_reset import FeedResetService


@handles_errors
async def reset_feed(request: Request) -> Response:
    """Start the carer's feed over in a new epoch that replays their current visits; their
    phones drop their copy and replay it (an admin, or a coordinator of the carer's branch)."""
    staff = await staff_of(request)
    node = node_of(request)
    done = await FeedResetService(node.db, node.bus, node.clock).reset(staff, request.path_params["carer_id"])
    return json_response({"carer_id": done.carer_id, "epoch": done.epoch, "head": done.head})


routes = [Route("/api/v1/carers/{carer_id}/feed/reset", reset_feed, methods=["POST"])]
