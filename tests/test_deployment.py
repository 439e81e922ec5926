"""docker-compose.yml cannot run here (no Docker engine), so it is read against the
topology the multi-node tests start by hand: PostgreSQL + Redis + two or more
``caresync serve`` nodes configured by the same environment variables, behind a load
balancer that passes WebSocket upgrades."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from server.cli import _parser

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
    assert services["migrate"]["command"] == ["caresync", "migrate"]
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


def test_dockerfile_serves_with_the_cli_and_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["caresync", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile
    assert "/healthz" in dockerfile
    args = _parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8000"])
    assert (args.host, args.port) == ("0.0.0.0", 8000)
