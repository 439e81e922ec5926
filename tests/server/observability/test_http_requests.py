"""HTTP requests on /metrics: one histogram by route template, method and status."""

from __future__ import annotations

import platform

from prometheus_client.parser import text_string_to_metric_families

from server.cli import version
from server.seeding import seed_agency
from tests.conftest import RunningServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(running: RunningServer) -> Samples:
    async with running.http() as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _count(samples: Samples, **labels: str) -> float:
    return samples.get(("caresync_http_request_duration_seconds_count", tuple(sorted(labels.items()))), 0.0)


def _routes(samples: Samples) -> set[str]:
    return {dict(labels)["route"] for name, labels in samples if name == "caresync_http_request_duration_seconds_count"}


async def test_requests_are_counted_by_route_template_method_and_status(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    visit_id = agency.carers[0].visit_ids[0]
    template = "/api/v1/visits/{visit_id}"
    before = await _scrape(running)
    async with running.http(agency.admin_token) as http:
        for _ in range(2):
            assert (await http.get(f"/api/v1/visits/{visit_id}")).status_code == 200
        assert (await http.get("/api/v1/visits/no-such-visit")).status_code == 404
        assert (await http.delete("/livez")).status_code == 405
        for n in range(3):
            assert (await http.get(f"/nothing/here/{n}")).status_code == 404
    after = await _scrape(running)

    def added(**labels: str) -> float:
        return _count(after, **labels) - _count(before, **labels)

    assert added(route=template, method="GET", status="200") == 2
    assert added(route=template, method="GET", status="404") == 1
    assert added(route="/livez", method="DELETE", status="405") == 1
    assert added(route="unmatched", method="GET", status="404") == 3
    # Raw paths never become labels: one series per template, whatever the ids.
    assert not any(visit_id in route or "/nothing/" in route for route in _routes(after))
    infinite = dict(route=template, method="GET", status="200", le="+Inf")
    assert after[("caresync_http_request_duration_seconds_bucket", tuple(sorted(infinite.items())))] >= 2


async def test_an_unknown_method_is_one_label(running: RunningServer) -> None:
    before = await _scrape(running)
    async with running.http() as http:
        assert (await http.request("PROPFIND", "/livez")).status_code == 405
    after = await _scrape(running)
    assert _count(after, route="/livez", method="other", status="405") == (
        _count(before, route="/livez", method="other", status="405") + 1
    )


async def test_build_info_names_the_version_and_python(running: RunningServer) -> None:
    samples = await _scrape(running)
    labels = (("python_version", platform.python_version()), ("version", version()))
    assert samples[("caresync_build_info", labels)] == 1
