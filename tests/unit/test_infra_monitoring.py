"""Alert rules and the Grafana dashboard: valid PromQL over metrics that exist.

promtool (built from the Go module proxy) checks the rule file, runs its unit
tests, and parses every dashboard query (wrapped as recording rules). The
metric names are compared with what the receiver really exposes and with the
pipeline's Beam counters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infra.tools.installed import REPO_ROOT, run, tool
from pipeline import counters
from receiver.metrics import ReceiverMetrics

MONITORING = REPO_ROOT / "infra" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "dashboard.json"
RUNBOOK = REPO_ROOT / "infra" / "RUNBOOK.md"

# Series from outside this repository: the scrape itself, Kafka Exporter, and Dataflow's
# Cloud Monitoring metrics as Managed Service for Prometheus names them.
EXTERNAL_METRICS = {
    "up",
    "kafka_consumergroup_lag",
    "kafka_topic_partition_current_offset",
    "dataflow_googleapis_com:job_user_counter",
    "dataflow_googleapis_com:job_data_watermark_age",
    "dataflow_googleapis_com:job_system_lag",
}
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[str]:
    """Every panel query with Grafana's variables replaced by their defaults."""
    defaults = {
        variable["name"]: variable["current"]["value"]
        for variable in dashboard()["templating"]["list"]
        if variable["type"] == "custom"
    }
    queries = []
    for panel in dashboard_panels():
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "5m")
            for name, value in defaults.items():
                expr = expr.replace(f"${name}", value)
            assert "$" not in expr, f"unknown variable in {expr!r}"
            queries.append(expr)
    return queries


def receiver_series_names() -> set[str]:
    metrics = ReceiverMetrics()
    metrics.observe_request("/tapcart_webhooks", 200, 0.01)
    metrics.delivery_seconds.observe(0.01)
    metrics.stored.labels(topic="tapcart.events.raw", store="kafka").inc()
    metrics.body_bytes.inc(10)
    text = metrics.render().decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def pipeline_counter_names() -> set[str]:
    return {
        value
        for name, value in vars(counters).items()
        if name.isupper() and isinstance(value, str) and name != "NAMESPACE"
    }


def test_promtool_accepts_the_rules_with_every_lint() -> None:
    result = run(tool("promtool"), ["check", "rules", "--lint=all", "--lint-fatal", ALERTS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = run(tool("promtool"), ["test", "rules", MONITORING / "alerts_test.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text(
        "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(up[5m])\n",
        encoding="utf-8",
    )
    assert run(tool("promtool"), ["check", "rules", broken]).returncode != 0


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": expr}
                    for index, expr in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    wrapped = tmp_path / "dashboard_rules.yaml"
    wrapped.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = run(tool("promtool"), ["check", "rules", wrapped])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_name_only_metrics_that_exist(source: str) -> None:
    queries = (
        [str(rule["expr"]) for rule in alert_rules()] if source == "alerts" else dashboard_queries()
    )
    known = receiver_series_names() | EXTERNAL_METRICS
    counter_names = pipeline_counter_names()
    for query in queries:
        selectors = SELECTOR.findall(query)
        assert selectors, f"no metric selector in {query!r}"
        for metric, matchers in selectors:
            assert metric in known, f"{metric} is not a metric anything exposes"
            for counter in re.findall(r'metric_name="([^"]+)"', matchers):
                assert counter in counter_names, f"no Beam counter named {counter!r}"
            if metric.startswith("receiver_"):
                assert 'job="receiver"' in matchers


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    everything = " ".join(dashboard_queries())
    for wanted in (
        "receiver_requests_total",  # requests by status
        "receiver_delivery_duration_seconds_bucket",  # delivery latency
        "receiver_spool_depth",  # spool depth
        "kafka_consumergroup_lag",  # consumer lag
        'metric_name="rows_submitted"',  # rows written
        'metric_name="dead_lettered"',  # dead letters
        "job_data_watermark_age",  # freshness
    ):
        assert wanted in everything, wanted


def test_dashboard_panels_are_complete() -> None:
    panels = dashboard()["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in dashboard_panels():
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(target["refId"] for target in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_every_alert_is_explained_in_the_runbook() -> None:
    runbook = RUNBOOK.read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^a-z0-9]", "", line.lstrip("#").strip().lower())
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["runbook"] == f"infra/RUNBOOK.md#{name.lower()}"
        assert name.lower() in headings, f"RUNBOOK.md has no section for {name}"
