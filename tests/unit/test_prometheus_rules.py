"""serving/prometheus/rules.yml: `promtool check rules` and `promtool test rules` (rules_test.yml) pass,
every alert is tested both firing and quiet, the rules name only series `tfkit serve` exports, their error
codes and latency bucket come from the kit's own tables, and the prod overlay's monitoring objects
(ServiceMonitor, PrometheusRule generated from rules.yml) render and validate offline.

Needs promtool (Debian package `prometheus`); with CI set, a missing promtool fails the tests.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from bench.prometheus import dashboard_panels
from k8s.manifests import Doc, find, load_documents
from k8s.render import OVERLAYS_DIR, kustomize
from serving.config import read_monitoring_config_file
from serving.metrics import LATENCY_BUCKETS_US, Metrics
from serving.prometheus import RULES, SCRAPE_CONFIG, prometheusrule
from serving.status import HTTP_STATUS

PROMETHEUS_DIR = RULES.parent
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
MONITORING = OVERLAYS_DIR / "prod" / "monitoring"
CRD_SCHEMA = MONITORING / "operator-crds.schema.json"
SERVING = SCRAPE_CONFIG.parent


@pytest.fixture(scope="module")
def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        message = "promtool not found (Debian: apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return exe


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=300, check=False)


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules_and_the_scrape_config(promtool: str) -> None:
    checked = run([promtool, "check", "rules", str(RULES)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = run([promtool, "check", "config", str(SCRAPE_CONFIG)])
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    tested = run([promtool, "test", "rules", str(RULES_TEST)])
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts == fired, "alerts without a firing test"
    assert alerts == quiet, "alerts without a quiet test"
    assert len(alerts) == 8


def test_server_errors_are_the_codes_the_error_table_maps_to_5xx() -> None:
    server_errors = {code.name for code, status in HTTP_STATUS.items() if status >= 500}
    texts = [rule["expr"] for rule in rules() if rule.get("record", "").startswith("tfkit:request_errors:")]
    assert len(texts) == 7
    for text in texts:
        (regex,) = re.findall(r'status=~"([^"]+)"', text)
        assert set(regex.split("|")) == server_errors


def exported_names() -> set[str]:
    """Every series name `tfkit serve` exposes: the page types every metric, even before its first
    sample; a histogram's series are its _bucket, _sum and _count."""
    names: set[str] = set()
    for line in Metrics().render().decode().splitlines():
        _, _, name, kind = line.split(" ")
        names |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return names


def test_latency_objective_is_a_bucket_the_server_exports() -> None:
    """The `le` of the SLO is a request_latency bucket label exactly as the server prints it (absl's
    six-digit double, util/prometheus_exporter.cc), not the bucket's full-precision value."""
    metrics = Metrics()
    metrics.observe_request("m", "predict", "REST", "OK", 0.001)
    page = metrics.render().decode()
    printed = set(re.findall(r':tensorflow:serving:request_latency_bucket\{[^}]*le="([^"]+)"', page))
    assert len(printed) == len(LATENCY_BUCKETS_US) + 1  # the limits and +Inf
    bounds = {b for rule in rules() for b in re.findall(r'le="([^"]+)"', rule["expr"])}
    assert bounds == {"121440"}
    assert bounds <= printed
    assert round(LATENCY_BUCKETS_US[16]) == 121440  # 10us * 1.8^16: 121.4 ms


def test_rules_and_dashboard_use_only_exported_series() -> None:
    exported = exported_names() | {"up"}
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    texts = [rule["expr"] for rule in rules()]
    texts += [expr for panel in dashboard_panels() for expr, _ in panel.targets]
    used = {
        name for text in texts for name in re.findall(r"(?<![\w:])(:[a-z_:]+[a-z_]|tfkit:[a-z0-9_:]+)", text)
    }
    assert used - recorded <= exported, used - recorded - exported
    assert recorded & used, "the dashboard uses the recording rules"


# -- Kubernetes: the prod overlay's monitoring kustomization ------------------------------------------


@pytest.fixture(scope="module")
def monitoring() -> list[Doc]:
    return load_documents(kustomize(MONITORING))


@pytest.fixture(scope="module")
def prod() -> list[Doc]:
    return load_documents(kustomize(OVERLAYS_DIR / "prod"))


def crd_errors(doc: Doc) -> list[str]:
    schema = json.loads(CRD_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_committed_prometheusrule_is_generated_from_rules_yml() -> None:
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == prometheusrule.render(), "run: python -m serving.prometheus.prometheusrule > " + str(
        MONITORING / "prometheusrule.yaml"
    )


def test_monitoring_objects_validate_against_the_operator_crd_schema(monitoring: list[Doc]) -> None:
    assert sorted(doc["kind"] for doc in monitoring) == ["PrometheusRule", "ServiceMonitor"]
    for doc in monitoring:
        assert crd_errors(doc) == [], doc["kind"]


def test_crd_schema_rejects_misspelt_fields(monitoring: list[Doc]) -> None:
    monitor = copy.deepcopy(find(monitoring, "ServiceMonitor", "tfkit-serving"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert crd_errors(monitor)
    rule = copy.deepcopy(find(monitoring, "PrometheusRule", "tfkit-serving"))
    rule["spec"]["groups"][0]["rules"][0]["alert"] = "BothRecordAndAlert"
    assert crd_errors(rule)


def test_prometheusrule_holds_rules_yml_unchanged(monitoring: list[Doc]) -> None:
    rule = find(monitoring, "PrometheusRule", "tfkit-serving")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_servicemonitor_scrapes_the_prod_service_at_the_metrics_path(
    monitoring: list[Doc], prod: list[Doc]
) -> None:
    monitor = find(monitoring, "ServiceMonitor", "tfkit-serving")
    service = find(prod, "Service", "tfkit-serving")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == read_monitoring_config_file(str(SERVING / "monitoring.config")).path
    # The operator names the job after the Service: the job rules.yml and serving/prometheus.yml use.
    (job,) = yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]
    assert service["metadata"]["name"] == job["job_name"]
    assert all(name == job["job_name"] for name in re.findall(r'job="([^"]+)"', RULES.read_text()))


def test_prod_networkpolicy_admits_the_scraper_on_the_scraped_port(
    monitoring: list[Doc], prod: list[Doc]
) -> None:
    (endpoint,) = find(monitoring, "ServiceMonitor", "tfkit-serving")["spec"]["endpoints"]
    policy = find(prod, "NetworkPolicy", "tfkit-serving")
    scraper_ports = [
        port["port"]
        for rule in policy["spec"]["ingress"]
        if any("monitoring" in json.dumps(peer) for peer in rule["from"])
        for port in rule["ports"]
    ]
    assert endpoint["port"] in scraper_ports


def test_generator_prints_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert prometheusrule.main() == 0
    assert capsys.readouterr().out == (MONITORING / "prometheusrule.yaml").read_text()
