"""HTTP requests on ``/metrics``: a histogram by route template, method and status.

Labels stay bounded whatever the traffic: a request is named by the template of the
route that matched it (``/api/v1/visits/{visit_id}``, never the visit's id), a path no
route matches is ``unmatched``, and a method outside HTTP's usual ones is ``other``.
"""

from __future__ import annotations

from prometheus_client import Histogram
from starlette.routing import Mount
from starlette.types import Scope

from server.observability.instruments import LATENCY_BUCKETS

UNMATCHED = "unmatched"
OTHER_METHOD = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Histogram(
    "caresync_http_request_duration_seconds",
    "HTTP requests answered, by route template, method and status, with the time to answer each",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)


def route_template(scope: Scope) -> str:
    """The template of the route the router matched in ``scope``, or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


def method_label(method: str) -> str:
    return method if method in _METHODS else OTHER_METHOD


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered HTTP request of ``scope``."""
    HTTP_REQUESTS.labels(route_template(scope), method_label(scope["method"]), str(status)).observe(seconds)
