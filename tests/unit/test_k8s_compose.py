"""serving/docker-compose.yml validates against the Compose Specification schema (vendored by
check-jsonschema) and wires what exists: the Dockerfile, the scrape config, ports and the metrics path, the
Prometheus rules, and Grafana's provisioned datasource and dashboard."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from k8s.manifests import flag_map
from serving.config import read_monitoring_config_file
from tests.support.dockerfiles import dockerfile_entrypoint, dockerfile_instructions

SERVING = Path(__file__).resolve().parents[2] / "serving"
COMPOSE = SERVING / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_schema_rejects_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["tfserving"]["port"] = broken["services"]["tfserving"].pop("ports")
    assert any("port" in error for error in schema_errors(broken))


def test_tfserving_builds_serving_dockerfile_and_publishes_its_ports(compose: dict[str, Any]) -> None:
    service = compose["services"]["tfserving"]
    context = (SERVING / service["build"]["context"]).resolve()
    assert (context / service["build"]["dockerfile"]).resolve() == (SERVING / "Dockerfile").resolve()
    assert service["build"]["args"]["MODELS"].endswith("/models")
    flags = flag_map(dockerfile_entrypoint(SERVING / "Dockerfile")[1:])
    published = {p.split(":")[-1] for p in service["ports"]}
    assert published == {flags["--port"], flags["--rest_api_port"]}
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_prometheus_scrapes_the_metrics_path_of_monitoring_config(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    image, _, tag = prometheus["image"].partition(":")
    assert image == "prom/prometheus" and tag and tag != "latest"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in prometheus["volumes"] if m.startswith(".")}
    config_file = next(
        arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file=")
    )
    scrape = yaml.safe_load((SERVING / mounts[config_file]).read_text())
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == read_monitoring_config_file(str(SERVING / "monitoring.config")).path
    rest_port = flag_map(dockerfile_entrypoint(SERVING / "Dockerfile")[1:])["--rest_api_port"]
    assert job["static_configs"][0]["targets"] == [f"tfserving:{rest_port}"]
    assert prometheus["depends_on"]["tfserving"]["condition"] == "service_healthy"
    assert any(key == "HEALTHCHECK" for key, _ in dockerfile_instructions(SERVING / "Dockerfile"))


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The repository file a service sees at `container_path` through its bind mounts (longest match)."""
    mounts = [m.split(":")[:2] for m in service["volumes"] if m.startswith(".")]
    source, target = max(
        ((s, t) for s, t in mounts if container_path == t or container_path.startswith(t.rstrip("/") + "/")),
        key=lambda pair: len(pair[1]),
    )
    return (SERVING / source / Path(container_path).relative_to(target)).resolve()


def test_prometheus_loads_the_kit_rules(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config_file = next(a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file="))
    scrape = yaml.safe_load(host_path(prometheus, config_file).read_text())
    rule_paths = [host_path(prometheus, str(Path(config_file).parent / f)) for f in scrape["rule_files"]]
    assert rule_paths == [SERVING / "prometheus" / "rules.yml"]


def test_grafana_is_provisioned_with_the_prometheus_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    image, _, tag = grafana["image"].partition(":")
    assert image == "grafana/grafana" and tag and tag != "latest"
    assert "prometheus" in grafana["depends_on"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    prometheus = compose["services"]["prometheus"]
    container_port = prometheus["ports"][0].split(":")[-1]
    assert source["url"] == f"http://prometheus:{container_port}" and source["type"] == "prometheus"
    scrape = yaml.safe_load((SERVING / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == scrape["global"]["scrape_interval"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "tfkit.yml").read_text())["providers"]
    dashboards = host_path(grafana, provider["options"]["path"])
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["tfkit-serving.json"]
    home = host_path(grafana, grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == dashboards / "tfkit-serving.json"
    dashboard = json.loads(home.read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in dashboard["panels"])
