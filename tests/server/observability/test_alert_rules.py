"""The shipped alerting rules: valid, wired into Prometheus, unit-tested, and reading only
figures a node really exports (``promtool`` from Debian's ``prometheus`` package)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningServer

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def _sample_names(family: Metric) -> set[str]:
    """The series names a family is queried by, samples or none yet (a counter never moved)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family.type, ("",))
    return {family.name + suffix for suffix in suffixes}


@needs_promtool
def test_the_prometheus_config_and_its_rules_are_valid() -> None:
    checked = _promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "6 rules found" in checked.stdout, checked.stdout


@needs_promtool
def test_each_alert_fires_on_its_trouble_and_none_on_a_healthy_cluster() -> None:
    tested = _promtool("test", "rules", str(RULES.with_name("alerts.test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = set(re.findall(r"alertname: (\w+)", RULES.with_name("alerts.test.yml").read_text()))
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} == tested_alerts


@needs_promtool
async def test_the_rules_read_figures_the_node_exports(running: RunningServer) -> None:
    async with running.http() as http:
        await http.get("/livez")
        page = (await http.get("/metrics")).text
    linted = _promtool("check", "metrics", stdin=page)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    exported = {name for family in text_string_to_metric_families(page) for name in _sample_names(family)}
    read = set(re.findall(r"\b(caresync_\w+)", RULES.read_text())) - {"caresync"}
    assert read and read <= exported, read - exported


def test_compose_mounts_the_rules_beside_the_prometheus_config() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./deploy/prometheus:/etc/prometheus/prometheus:ro" in volumes
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["prometheus/alerts.yml"]


def test_compose_publishes_neither_prometheus_nor_an_anonymous_grafana() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "ports" not in services["prometheus"]
    grafana = services["grafana"]
    assert all(str(port).startswith("127.0.0.1:") for port in grafana["ports"]), grafana["ports"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
