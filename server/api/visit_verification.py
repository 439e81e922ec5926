"""``GET /api/v1/reports/visit-verification``: the visit verification export, JSON or CSV,
streamed (docs/visit-verification.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from server.api.http import handles_errors, node_of, staff_of
from server.services.errors import InvalidInput
from server.services.visit_verification.export import VisitVerification, checked_query
from server.services.visit_verification.formats import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    csv_chunks,
    file_name,
    json_chunks,
)

_PARAMS = {"from", "to", "branch_id", "format"}


@handles_errors
async def visit_verification(request: Request) -> Response:
    staff = await staff_of(request)
    params = request.query_params
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise InvalidInput(f"unknown parameter(s): {', '.join(unknown)}; use {', '.join(sorted(_PARAMS))}")
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv")
    query = checked_query(params.get("from"), params.get("to"), params.get("branch_id"))
    node = node_of(request)
    export = await VisitVerification(node.db, node.clock).export(staff, query)
    chunks = csv_chunks(export) if fmt == "csv" else json_chunks(export)
    return StreamingResponse(
        chunks,
        media_type=CSV_MEDIA_TYPE if fmt == "csv" else JSON_MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{file_name(export, fmt)}"'},
    )


routes = [Route("/api/v1/reports/visit-verification", visit_verification, methods=["GET"])]
