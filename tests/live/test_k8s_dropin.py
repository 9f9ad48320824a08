"""Drop-in proof: for EACH overlay (dev, prod, canary), the TF Serving container's argument list from the
rendered Deployment, with its container paths mapped to this machine (ConfigMap volume -> files
materialized from the rendered ConfigMap, models emptyDir -> the exported artifacts), starts `tfkit serve`,
which then answers smoke cases and the probes. The same smoke cases run against serving/Dockerfile's
ENTRYPOINT (configs mapped back to serving/), and `make serve` carries the same list
(tests/unit/test_k8s_docker.py), so manifests, image and local server cannot drift apart. The canary
overlay's labelled config starts only with its --allow_version_labels_for_unavailable_models, exactly as
on the real binary (server_core.cc ReloadConfig checks labels before loading).
"""

from __future__ import annotations

import json
import shutil
import subprocess
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
from tests.support.server import REPO as SERVER_CWD
from tests.support.server import TFKIT, LiveServer, free_port, running_server

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


OVERLAYS = ["dev", "prod", "canary"]
ALLOW_LABELS = "--allow_version_labels_for_unavailable_models=true"


@pytest.fixture(scope="module")
def overlay_docs() -> dict[str, list[Doc]]:
    return {name: rendered(name) for name in OVERLAYS}


def dockerfile_flags(models: Path) -> list[str]:
    """serving/Dockerfile's ENTRYPOINT flags with its COPY destinations mapped back to their sources."""
    entrypoint = dockerfile_entrypoint(DOCKERFILE)
    assert entrypoint[0] == "/usr/bin/tensorflow_model_server"
    copies = {dest.rstrip("/"): sources for sources, dest in dockerfile_copies(DOCKERFILE)}
    config_dir = str(Path(flag_map(entrypoint[1:])["--model_config_file"]).parent)
    (source_dir,) = {str(Path(source).parent) for source in copies[config_dir]}
    return local_flags(entrypoint[1:], {config_dir: REPO / source_dir}, {"/models": models})


def labelled_versions(config: Any) -> dict[str, dict[str, int]]:
    return {c.name: dict(c.version_labels) for c in config.model_config_list.config}


def canary_models(canary: DropIn, artifacts: Path, models: Path) -> Path:
    """A models release holding every labelled version: copies of the exported one."""
    for name, labels in labelled_versions(canary.models_config).items():
        exported = artifacts / manifest(artifacts)[name]["path"]
        for version in labels.values():
            if not (models / name / str(version)).exists():
                shutil.copytree(exported, models / name / str(version))
    return models


@dataclass
class Started:
    name: str  # overlay name, or "dockerfile"
    live: LiveServer
    docs: list[Doc]  # the overlay's objects (prod's for the Dockerfile)
    labels: dict[str, dict[str, int]]


@pytest.fixture(scope="module", params=[*OVERLAYS, "dockerfile"])
def server(
    request: pytest.FixtureRequest,
    overlay_docs: dict[str, list[Doc]],
    artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Started]:
    """`tfkit serve` with each overlay's rendered container args and ConfigMap, then with the Dockerfile."""
    name = request.param
    labels: dict[str, dict[str, int]] = {}
    if name == "dockerfile":
        docs, flags = overlay_docs["prod"], dockerfile_flags(artifacts / "models")
    else:
        docs = overlay_docs[name]
        workdir = tmp_path_factory.mktemp(f"{name}-dropin")
        models = artifacts / "models"
        canary = dropin(docs, models, workdir / "config")
        labels = labelled_versions(canary.models_config)
        if any(labels.values()):
            models = canary_models(canary, artifacts, workdir / "models")
        flags = dropin(docs, models, workdir / "config").flags
    with running_server(flags, wait_models=["linear", "ctr"]) as live:
        for model, model_labels in labels.items():  # labelled versions may still be loading (README)
            for version in model_labels.values():
                live.wait_for(model, version=version)
        yield Started(name, live, docs, labels)


def manifest(artifacts: Path) -> dict[str, Any]:
    return dict(json.loads((artifacts / "manifest.json").read_text())["models"])


def test_every_model_is_available_at_its_exported_version(server: Started, artifacts: Path) -> None:
    for name, entry in manifest(artifacts).items():
        status = requests.get(f"{server.live.rest_url}/v1/models/{name}", timeout=10).json()
        versions = {(int(v["version"]), v["state"]) for v in status["model_version_status"]}
        expected = set(server.labels.get(name, {}).values()) or {entry["version"]}
        assert {(v, "AVAILABLE") for v in expected} <= versions, status


def test_rest_predict_linear(server: Started, artifacts: Path) -> None:
    r = requests.post(
        f"{server.live.rest_url}/v1/models/linear:predict", json={"instances": [[1.0]]}, timeout=10
    )
    assert r.status_code == 200, r.text
    metrics = manifest(artifacts)["linear"]["metrics"]
    assert r.json()["predictions"][0][0] == pytest.approx(metrics["w"] + metrics["b"], abs=1e-3)


def test_rest_metadata_linear(server: Started) -> None:
    body = requests.get(f"{server.live.rest_url}/v1/models/linear/metadata", timeout=10).json()
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == {"x"} and set(signature["outputs"]) == {"y"}


def test_the_probes_services_report_serving(server: Started) -> None:
    serving = container(find(server.docs, "Deployment", "tfkit-serving"))
    services = {
        serving[p]["grpc"].get("service", "") for p in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    with grpc.insecure_channel(server.live.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in services:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_the_scrape_annotations_reach_the_metrics(server: Started) -> None:
    annotations = find(server.docs, "Deployment", "tfkit-serving")["spec"]["template"]["metadata"][
        "annotations"
    ]
    url = server.live.rest_url
    requests.post(f"{url}/v1/models/linear:predict", json={"instances": [[2.0]]}, timeout=10)
    r = requests.get(f"{url}{annotations['prometheus.io/path']}", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert ":tensorflow:serving:request_count" in r.text


def test_labels_resolve_to_their_versions(server: Started) -> None:
    url = server.live.rest_url
    if not any(server.labels.values()):  # dev, prod, Dockerfile: no labels, so a label is unknown
        r = requests.post(
            f"{url}/v1/models/linear/labels/canary:predict", json={"instances": [[1.0]]}, timeout=10
        )
        assert r.status_code == 400 and r.json() == {"error": "Unrecognized servable version label: canary"}
        return
    for name, labels in server.labels.items():
        for label, version in labels.items():
            body = requests.get(f"{url}/v1/models/{name}/labels/{label}/metadata", timeout=10).json()
            assert body["model_spec"]["version"] == str(version), (label, body)
    r = requests.post(
        f"{url}/v1/models/linear/labels/canary:predict", json={"instances": [[1.0]]}, timeout=10
    )
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1, r.text


def test_canary_config_without_the_allow_flag_fails_as_upstream(
    overlay_docs: dict[str, list[Doc]], artifacts: Path, tmp_path: Path
) -> None:
    """server_core.cc ReloadConfig: UpdateModelVersionLabelMap runs before AddModelsViaModelConfigList, so
    the real binary refuses the canary's labelled config at startup without the flag."""
    canary = dropin(overlay_docs["canary"], artifacts / "models", tmp_path / "config")
    assert ALLOW_LABELS in container(find(overlay_docs["canary"], "Deployment", "tfkit-serving"))["args"]
    models = canary_models(canary, artifacts, tmp_path / "models")
    flags = [
        f for f in dropin(overlay_docs["canary"], models, tmp_path / "config").flags if f != ALLOW_LABELS
    ]
    argv = [*TFKIT, "serve", *flags, f"--port={free_port()}", f"--rest_api_port={free_port()}"]
    done = subprocess.run(argv, cwd=SERVER_CWD, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 255, done.stderr[-2000:]
    assert (
        "Failed to start server. Error: FAILED_PRECONDITION: Request to assign label to version "
        in done.stderr
    )
    assert "which is not currently available for inference" in done.stderr
