"""Console: the visit verification export (docs/visit-verification.md), a form of dates
and branch that downloads the REST API's CSV or JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from server.console.guard import node_of, page_context, signed_in
from server.console.pages_office import visible_branches
from server.console.templating import render
from server.services.errors import InvalidInput, ServiceError
from server.services.identity import Staff
from server.services.visit_verification.export import VisitVerification, checked_query
from server.services.visit_verification.formats import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    csv_chunks,
    file_name,
    json_chunks,
)
from server.tunables import VISIT_VERIFICATION_MAX_DAYS

PAGE = "/console/reports/visit-verification"


async def _form(request: Request, staff: Staff, error: ServiceError | None = None) -> Response:
    context = await page_context(request, staff)
    zone = ZoneInfo(context["timezone"])
    today = datetime.fromtimestamp(node_of(request).clock.now_ms() / 1000, tz=UTC).astimezone(zone).date()
    params = request.query_params
    return render(
        request,
        "visit_verification.html",
        status=error.status if error else 200,
        error=error.message if error else None,
        first=params.get("from") or (today - timedelta(days=7)).isoformat(),
        last=params.get("to") or today.isoformat(),
        branch_id=params.get("branch_id", ""),
        branches=await visible_branches(request, staff),
        max_days=VISIT_VERIFICATION_MAX_DAYS,
        **context,
    )


@signed_in
async def verification_form(request: Request, staff: Staff) -> Response:
    return await _form(request, staff)


@signed_in
async def verification_download(request: Request, staff: Staff) -> Response:
    """The export as a download; a refused query shows the form again, saying why."""
    params = request.query_params
    fmt = params.get("format", "csv")
    node = node_of(request)
    try:
        if fmt not in ("csv", "json"):
            raise InvalidInput("the format is CSV or JSON")
        query = checked_query(params.get("from"), params.get("to"), params.get("branch_id"))
        export = await VisitVerification(node.db, node.clock).export(staff, query)
    except ServiceError as exc:
        return await _form(request, staff, exc)
    return StreamingResponse(
        csv_chunks(export) if fmt == "csv" else json_chunks(export),
        media_type=CSV_MEDIA_TYPE if fmt == "csv" else JSON_MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{file_name(export, fmt)}"'},
    )


routes = [
    Route(PAGE, verification_form, methods=["GET"]),
    Route(f"{PAGE}/download", verification_download, methods=["GET"]),
]
