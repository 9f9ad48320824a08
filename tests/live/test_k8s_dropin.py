"""Drop-in proof: the TF Serving container's argument list from the rendered Deployment, with its
container paths mapped to this machine (ConfigMap volume -> files materialized from the rendered
ConfigMap, models emptyDir -> the exported artifacts), starts `tfkit serve`, which then answers the
contract's smoke cases and the probes. The same smoke cases run against serving/Dockerfile's ENTRYPOINT
(configs mapped back to serving/), and `make serve` carries the same list (tests/unit/test_k8s_docker.py),
so manifests, image and local server cannot drift apart.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from k8s.manifests import (
    Doc,
    configmap_mounts,
    container,
    find,
    flag_map,
    load_documents,
    local_flags,
    materialize_configmap,
    pod_spec,
)
from k8s.render import OVERLAYS_DIR, kustomize
from serving.config import parse_model_server_config
from tests.support.dockerfiles import dockerfile_copies, dockerfile_entrypoint
from tests.support.server import LiveServer, running_server

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "serving" / "Dockerfile"


def rendered(overlay: str) -> list[Doc]:
    return load_documents(kustomize(OVERLAYS_DIR / overlay))


def model_mounts(deployment: Doc) -> list[str]:
    """Mount paths of the serving container's emptyDir volumes that an init container fills."""
    spec = pod_spec(deployment)
    empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    filled = {m["name"] for c in spec.get("initContainers", []) for m in c.get("volumeMounts", [])}
    mounts = container(deployment)["volumeMounts"]
    return [m["mountPath"] for m in mounts if m["name"] in empty & filled]


@dataclass(frozen=True)
class DropIn:
    flags: list[str]  # for `tfkit serve` (ports are picked by running_server)
    config_dir: Path  # the ConfigMap materialized as files
    models_config: Any  # its models.config, parsed (ModelServerConfig)

    @property
    def model_names(self) -> list[str]:
        return [c.name for c in self.models_config.model_config_list.config]


def dropin(docs: list[Doc], models: Path, workdir: Path) -> DropIn:
    """The rendered serving container of one overlay, mapped onto `models` and files under `workdir`."""
    deployment = find(docs, "Deployment", "tfkit-serving")
    file_dirs = {
        mount: materialize_configmap(find(docs, "ConfigMap", name), workdir / name)
        for mount, name in configmap_mounts(deployment).items()
    }
    (model_dir,) = model_mounts(deployment)
    flags = local_flags(container(deployment)["args"], file_dirs, {model_dir: models})
    (config_dir,) = file_dirs.values()
    return DropIn(flags, config_dir, parse_model_server_config((config_dir / "models.config").read_text()))


@pytest.fixture(scope="module")
def prod_docs() -> list[Doc]:
    return rendered("prod")


def dockerfile_flags(models: Path) -> list[str]:
    """serving/Dockerfile's ENTRYPOINT flags with its COPY destinations mapped back to their sources."""
    entrypoint = dockerfile_entrypoint(DOCKERFILE)
    assert entrypoint[0] == "/usr/bin/tensorflow_model_server"
    copies = {dest.rstrip("/"): sources for sources, dest in dockerfile_copies(DOCKERFILE)}
    config_dir = str(Path(flag_map(entrypoint[1:])["--model_config_file"]).parent)
    (source_dir,) = {str(Path(source).parent) for source in copies[config_dir]}
    return local_flags(entrypoint[1:], {config_dir: REPO / source_dir}, {"/models": models})


@pytest.fixture(scope="module", params=["k8s-deployment", "dockerfile"])
def server(
    request: pytest.FixtureRequest,
    prod_docs: list[Doc],
    artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """`tfkit serve` with the prod Deployment's container args, then with serving/Dockerfile's ENTRYPOINT."""
    if request.param == "dockerfile":
        flags = dockerfile_flags(artifacts / "models")
    else:
        flags = dropin(prod_docs, artifacts / "models", tmp_path_factory.mktemp("prod-config")).flags
    with running_server(flags, wait_models=["linear", "ctr"]) as live:
        yield live


def manifest(artifacts: Path) -> dict[str, Any]:
    return dict(json.loads((artifacts / "manifest.json").read_text())["models"])


def test_every_model_is_available_at_its_exported_version(server: LiveServer, artifacts: Path) -> None:
    for name, entry in manifest(artifacts).items():
        status = requests.get(f"{server.rest_url}/v1/models/{name}", timeout=10).json()
        versions = {(int(v["version"]), v["state"]) for v in status["model_version_status"]}
        assert (entry["version"], "AVAILABLE") in versions, status


def test_rest_predict_linear(server: LiveServer, artifacts: Path) -> None:
    r = requests.post(f"{server.rest_url}/v1/models/linear:predict", json={"instances": [[1.0]]}, timeout=10)
    assert r.status_code == 200, r.text
    metrics = manifest(artifacts)["linear"]["metrics"]
    assert r.json()["predictions"][0][0] == pytest.approx(metrics["w"] + metrics["b"], abs=1e-3)


def test_rest_metadata_linear(server: LiveServer) -> None:
    body = requests.get(f"{server.rest_url}/v1/models/linear/metadata", timeout=10).json()
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == {"x"} and set(signature["outputs"]) == {"y"}


def test_the_probes_services_report_serving(server: LiveServer, prod_docs: list[Doc]) -> None:
    serving = container(find(prod_docs, "Deployment", "tfkit-serving"))
    services = {
        serving[p]["grpc"].get("service", "") for p in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in services:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_the_scrape_annotations_reach_the_metrics(server: LiveServer, prod_docs: list[Doc]) -> None:
    annotations = find(prod_docs, "Deployment", "tfkit-serving")["spec"]["template"]["metadata"][
        "annotations"
    ]
    requests.post(f"{server.rest_url}/v1/models/linear:predict", json={"instances": [[2.0]]}, timeout=10)
    r = requests.get(f"{server.rest_url}{annotations['prometheus.io/path']}", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert ":tensorflow:serving:request_count" in r.text


def test_canary_overlay_serves_stable_and_canary_labels(artifacts: Path, tmp_path: Path) -> None:
    canary = dropin(rendered("canary"), tmp_path / "models", tmp_path / "config")
    names = canary.model_names
    labels = {c.name: dict(c.version_labels) for c in canary.models_config.model_config_list.config}
    for name in names:  # a models release holding both versions: copies of the exported one
        exported = artifacts / manifest(artifacts)[name]["path"]
        for version in labels[name].values():
            shutil.copytree(exported, tmp_path / "models" / name / str(version))
    with running_server(canary.flags, wait_models=names) as live:
        for name in names:
            for label, version in labels[name].items():
                url = f"{live.rest_url}/v1/models/{name}/labels/{label}/metadata"
                body = requests.get(url, timeout=10).json()
                assert body["model_spec"]["version"] == str(version), (label, body)
        r = requests.post(
            f"{live.rest_url}/v1/models/linear/labels/canary:predict", json={"instances": [[1.0]]}, timeout=10
        )
        assert r.status_code == 200 and len(r.json()["predictions"]) == 1, r.text
