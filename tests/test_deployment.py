"""docker-compose.yml cannot run here (no Docker engine), so it is read against the
topology the multi-node tests start by hand: PostgreSQL + Redis + two or more
``caresync serve`` nodes configured by the same environment variables, behind a load
balancer that passes WebSocket upgrades."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from server.settings import Settings
from tests.conftest import RunningServer

ROOT = Path(__file__).parents[1]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _nodes(compose: dict[str, Any]) -> dict[str, Any]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("build") and svc.get("command") is None}


def test_compose_has_the_tested_topology() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    nodes = _nodes(compose)
    assert len(nodes) >= 2
    for svc in nodes.values():
        env = svc["environment"]
        assert env["CARESYNC_DATABASE_URL"].startswith("postgresql://")
        assert env["CARESYNC_DATABASE_URL"].split("@")[1].startswith("postgres:5432/")
        assert env["CARESYNC_REDIS_URL"].startswith("redis://redis:6379")
        assert env["CARESYNC_NODE_ID"]
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert env["CARESYNC_MIGRATE"] == "off", "the migrate service owns the schema"
        assert int(env["CARESYNC_EXPECTED_NODES"]) == len(nodes)
    assert services["migrate"]["command"] == ["caresync", "migrate"]
    assert "CARESYNC_MIGRATE" not in services["migrate"]["environment"]
    for name in ("postgres", "redis", "balancer"):
        assert "healthcheck" in services[name], name


def test_balancer_passes_upgrades_to_every_node() -> None:
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream caresync \{(.*?)\}", nginx, re.S)
    assert upstream is not None
    servers = set(re.findall(r"server ([\w-]+):8000", upstream.group(1)))
    assert servers == set(_nodes(_compose()))
    assert "proxy_set_header Upgrade $http_upgrade" in nginx
    assert "proxy_http_version 1.1" in nginx


def test_dockerfile_serves_with_the_cli_settings_and_health_checks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["caresync", "serve"]' in dockerfile
    assert "/livez" in dockerfile
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    env = dict(re.findall(r"(CARESYNC_[A-Z_]+)=(\S+)", dockerfile))
    settings = Settings.load(env)
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)


def test_every_long_running_service_restarts_and_nodes_report_readiness() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        if name == "migrate":
            assert service["restart"] == "on-failure"
        else:
            assert service["restart"] == "unless-stopped", name
    for service in _nodes(compose).values():
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["CARESYNC_FORWARDED_ALLOW_IPS"]
    assert "/readyz" in " ".join(compose["services"]["balancer"]["healthcheck"]["test"])


def test_nginx_passes_the_host_with_its_port_and_the_forwarded_headers() -> None:
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Host $http_host;" in nginx
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx


def test_prometheus_scrapes_every_node_and_grafana_is_provisioned() -> None:
    compose = _compose()
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:8000" for name in _nodes(compose)}
    prometheus = compose["services"]["prometheus"]["networks"]["default"]["ipv4_address"]
    for name, node in _nodes(compose).items():
        # Prometheus's address, and no wider part of the compose network, is internal ...
        internal = node["environment"]["CARESYNC_INTERNAL_NETWORKS"].split(",")
        assert f"{prometheus}/32" in internal
        assert compose["networks"]["default"]["ipam"]["config"][0]["subnet"] not in internal
        # ... and the node answers to the name Prometheus scrapes it by.
        assert name in node["environment"]["CARESYNC_ALLOWED_HOSTS"].split(",")
    grafana = compose["services"]["grafana"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/caresync.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_nodes_trust_forwarded_headers_from_the_balancer_alone() -> None:
    """With "*" uvicorn takes the leftmost X-Forwarded-For, which the client writes: a
    forged internal address would see /metrics and dodge the per-address sign-in limit."""
    compose = _compose()
    balancer = compose["services"]["balancer"]["networks"]["default"]["ipv4_address"]
    for node in _nodes(compose).values():
        assert node["environment"]["CARESYNC_FORWARDED_ALLOW_IPS"] == balancer


def test_the_balancer_does_not_serve_metrics() -> None:
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "location = /metrics {\n            return 404;" in nginx


def test_dashboard_and_its_documented_panels_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "dashboard.py"), "--check"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


async def test_every_metric_the_dashboard_queries_is_served(running: RunningServer) -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/caresync.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    wanted = {name for expr in exprs for name in re.findall(r"\b(caresync_[a-z_]+)", expr)}
    async with running.http() as http:
        served = (await http.get("/metrics")).text
    families = {family.name for family in text_string_to_metric_families(served)}
    # A labelled metric with no samples yet is still declared: compare family names.
    assert {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in wanted} - families == set()


def test_the_server_lock_pins_every_runtime_dependency_and_no_chart_library() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {m.group(1).lower().replace("_", "-") for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower()
        assert name in pinned, name
    assert "--hash=sha256:" in lock
    assert "matplotlib" not in pinned and "numpy" not in pinned
    fleet = project["optional-dependencies"]["fleet"]
    assert [re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0] for requirement in fleet] == ["matplotlib"]
