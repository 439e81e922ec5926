"""``GET /api/v1/reports/devices``: the User Device Relationship report, JSON or CSV."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import handles_errors, json_response, node_of, staff_of
from server.services.device_report import DeviceReport, ReportQuery, to_csv
from server.services.errors import InvalidInput

_PARAMS = {"format", "branch_id", "user_id", "stale", "sort", "order", "page", "page_size"}


def _query(request: Request) -> tuple[str, ReportQuery]:
    params = request.query_params
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise InvalidInput(f"unknown parameter(s): {', '.join(unknown)}; use {', '.join(sorted(_PARAMS))}")
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv")
    stale = params.get("stale")
    if stale not in (None, "true", "false"):
        raise InvalidInput("stale must be true or false")
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidInput("order must be asc or desc")
    try:
        page = int(params.get("page", "1"))
        page_size: int | None = int(params["page_size"]) if "page_size" in params else 100
    except ValueError as exc:
        raise InvalidInput("page and page_size are whole numbers") from exc
    if fmt == "csv" and "page_size" not in params:
        page_size = None  # a download holds every row
    return fmt, ReportQuery(
        branch_id=params.get("branch_id"),
        user_id=params.get("user_id"),
        stale=None if stale is None else stale == "true",
        sort=params.get("sort", "device_name"),
        descending=order == "desc",
        page=page,
        page_size=page_size,
    )


@handles_errors
async def device_report(request: Request) -> Response:
    staff = await staff_of(request)
    fmt, query = _query(request)
    node = node_of(request)
    page = await DeviceReport(node.db, node.clock).build(staff, query)
    if fmt == "csv":
        name = f"user-device-relationship-{datetime.now().strftime('%Y%m%d')}.csv"
        return Response(
            to_csv(page),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{name}"',
                "x-total-count": str(page.total),
            },
        )
    return json_response(
        {
            "devices": page.rows,
            "total": page.total,
            "page": page.page,
            "page_size": page.page_size,
            "timezone": page.timezone,
        }
    )


routes = [Route("/api/v1/reports/devices", device_report, methods=["GET"])]
