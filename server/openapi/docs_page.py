"""``GET /api/v1/docs``: the REST API described for people, rendered on the node from the
OpenAPI document, with its one stylesheet served by the node too. Nothing on the page is
fetched from anywhere else, and it runs no script: it is served under the console's
Content-Security-Policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from server.openapi.document import document
from server.openapi.reading import read

DOCS_PATH = "/api/v1/docs"
STYLESHEET_PATH = "/api/v1/docs/docs.css"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
"""The console's policy: everything from the node itself."""

_HERE = Path(__file__).parent
_env = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _headers() -> dict[str, str]:
    return {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
    }


@cache
def page_html() -> str:
    spec = document()
    sections, schemas = read(spec)
    return _env.get_template("docs.html").render(
        info=spec["info"], sections=sections, schemas=schemas, stylesheet=STYLESHEET_PATH
    )


async def docs(request: Request) -> Response:
    return HTMLResponse(page_html(), headers=_headers())


async def stylesheet(request: Request) -> Response:
    return Response((_HERE / "static" / "docs.css").read_bytes(), media_type="text/css", headers=_headers())


routes = [Route(DOCS_PATH, docs, methods=["GET"]), Route(STYLESHEET_PATH, stylesheet, methods=["GET"])]
