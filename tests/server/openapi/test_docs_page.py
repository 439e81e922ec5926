"""``/api/v1/docs`` is served by the node with everything it references, and nothing on it
comes from anywhere else."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from server.openapi.docs_page import CONTENT_SECURITY_POLICY
from server.openapi.document import document
from server.openapi.reading import type_of
from tests.conftest import RunningServer

ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
"""A URL that leaves the page's own origin (a scheme, or protocol-relative)."""


class _References(HTMLParser):
    """Every URL the page fetches or links to: src, href, srcset, action, and CSS url()."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.linked: list[str] = []
        self.inline_code: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a":
            self.linked.append(values.get("href", ""))
        else:
            self.fetched += [values[name] for name in ("src", "href", "srcset", "action", "data") if name in values]
        if tag in ("script", "style") or "style" in values or any(name.startswith("on") for name in values):
            self.inline_code.append(tag)


async def test_the_docs_page_and_everything_it_references_come_from_the_node(running: RunningServer) -> None:
    async with running.http() as http:
        page = await http.get("/api/v1/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        refs = _References()
        refs.feed(page.text)
        assert refs.inline_code == [], "no script or inline style: the policy allows neither"
        assert refs.fetched, "the page has its stylesheet"
        for url in refs.fetched:
            assert not ABSOLUTE.match(url), url
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert not re.search(r"url\(\s*['\"]?(?:[a-z]+:|//)|@import", asset.text), f"{url} fetches elsewhere"
        for url in refs.linked:
            assert url.startswith("#") or not ABSOLUTE.match(url), url
            if not url.startswith("#"):
                assert (await http.get(url)).status_code == 200, url
        anchors = set(re.findall(r'id="([^"]+)"', page.text))
        assert {url[1:] for url in refs.linked if url.startswith("#")} <= anchors, "every in-page link lands"


async def test_the_docs_page_shows_every_operation_and_schema(running: RunningServer) -> None:
    async with running.http() as http:
        text = (await http.get("/api/v1/docs")).text
    spec = document()
    for methods in spec["paths"].values():
        for operation in methods.values():
            assert f'id="{operation["operationId"]}"' in text
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in text
    assert "string (date-time)" in text
    assert "&#34;carer&#34; | &#34;coordinator&#34; | &#34;admin&#34;" in text, "an enum is shown as its values"


def test_types_read_as_a_person_would_write_them() -> None:
    assert [p.text for p in type_of({"type": "array", "items": {"$ref": "#/components/schemas/VisitView"}})] == [
        "VisitView",
        "[]",
    ]
    nullable = type_of({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]})
    assert "".join(p.text for p in nullable) == "string (date-time) | null"
    assert type_of({"type": "object", "additionalProperties": True})[0].text == "object (any fields)"
