"""serving/docker-compose.yml validates against the Compose Specification schema (vendored by
check-jsonschema) and wires what exists: the Dockerfile, the scrape config, ports and the metrics path."""

from __future__ import annotations

import copy
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
