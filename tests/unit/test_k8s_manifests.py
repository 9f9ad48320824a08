"""k8s/: every overlay renders with `kubectl kustomize`, validates strictly against the Kubernetes schemas
of a pinned version, and carries what the kit promises (probes, hardening, resources, images in one place,
configs identical to serving/*.config, prod and canary specifics, the object-storage component)."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest

from k8s.manifests import Doc, configmap_mounts, container, find, flag_map, load_documents, pod_spec
from k8s.render import (
    K8S_DIR,
    OVERLAYS_DIR,
    RenderError,
    RenderSettings,
    kustomize,
    overlay_names,
    overlay_with_components,
    render_overlays,
)
from serving.config import parse_model_server_config, read_monitoring_config_file
from serving.flags import NO_EFFECT_FLAGS, UPSTREAM_FLAGS, parse_command_line

KUBERNETES_VERSION = "1.34.0"  # oldest release kubernetes-validate 1.37 ships schemas for; grpc probes are GA
REPO = K8S_DIR.parent
SERVING = REPO / "serving"
EXPECTED_ARGS = [
    "--port=8500",
    "--rest_api_port=8501",
    "--model_config_file=/etc/tfserving/models.config",
    "--model_config_file_poll_wait_seconds=60",
    "--enable_batching=true",
    "--batching_parameters_file=/etc/tfserving/batching.config",
    "--monitoring_config_file=/etc/tfserving/monitoring.config",
    "--enable_grpc_healthcheck_service=true",
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    """Each overlay's objects, plus `object-storage`: the dev overlay with the component enabled."""
    overlays = {name: load_documents(kustomize(OVERLAYS_DIR / name)) for name in overlay_names()}
    with_component = overlay_with_components(
        tmp_path_factory.mktemp("overlay"), "dev", ["object-storage"], namespace="tfkit-dev"
    )
    return overlays | {"object-storage": load_documents(kustomize(with_component))}


def deployment(docs: list[Doc]) -> Doc:
    return find(docs, "Deployment", "tfkit-serving")


def all_containers(docs: list[Doc]) -> list[Doc]:
    spec = pod_spec(deployment(docs))
    return [*spec.get("initContainers", []), *spec["containers"]]


def config_text(name: str) -> str:
    return (SERVING / name).read_text()


def test_expected_overlays_exist() -> None:
    assert set(overlay_names()) >= {"dev", "prod", "canary"}


def test_every_object_validates_strictly(rendered: dict[str, list[Doc]]) -> None:
    for overlay, docs in rendered.items():
        assert docs, overlay
        for doc in docs:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_unknown_fields(rendered: dict[str, list[Doc]]) -> None:
    bad = deployment(rendered["dev"]) | {"spec": {**deployment(rendered["dev"])["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


OVERLAY_EXTRA_ARGS = {
    # server_core.cc checks labels before the first config's models load (k8s/overlays/canary says why).
    "canary": ["--allow_version_labels_for_unavailable_models=true"],
}


def test_serving_container_runs_the_binary_with_the_kit_flags(rendered: dict[str, list[Doc]]) -> None:
    for overlay, docs in rendered.items():
        serving = container(deployment(docs))
        assert serving["command"] == ["/usr/bin/tensorflow_model_server"], overlay
        assert serving["args"] == EXPECTED_ARGS + OVERLAY_EXTRA_ARGS.get(overlay, []), overlay
        flags = flag_map(serving["args"])
        ports = {p["name"]: p["containerPort"] for p in serving["ports"]}
        assert ports == {"grpc": int(flags["--port"]), "http": int(flags["--rest_api_port"])}
        config_dir = next(iter(configmap_mounts(deployment(docs))))
        assert flags["--model_config_file"].startswith(config_dir + "/")


def test_every_arg_is_an_upstream_flag_with_an_effect_in_its_form(rendered: dict[str, list[Doc]]) -> None:
    """The args parse as tensorflow_model_server 2.19 parses them (serving/flags.py, the one flag table):
    known flags only, `--name=value` form, no flag that would do nothing."""
    for overlay, docs in rendered.items():
        args = container(deployment(docs))["args"]
        values = parse_command_line(args)
        assert set(values["__given__"]) <= {f.name for f in UPSTREAM_FLAGS}, overlay
        assert not set(values["__given__"]) & set(NO_EFFECT_FLAGS), overlay


def test_canary_labels_need_the_allow_flag(rendered: dict[str, list[Doc]]) -> None:
    args = container(deployment(rendered["canary"]))["args"]
    assert parse_command_line(args)["allow_version_labels_for_unavailable_models"]


def test_probes_use_the_grpc_health_service_on_the_grpc_port(rendered: dict[str, list[Doc]]) -> None:
    for docs in rendered.values():
        serving = container(deployment(docs))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc = serving[probe]["grpc"]
            assert grpc["port"] == 8500 and grpc["service"] in {"ModelService", "PredictionService"}, probe
        startup = serving["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "room for the initial load"


def test_every_container_is_hardened_and_bounded(rendered: dict[str, list[Doc]]) -> None:
    for overlay, docs in rendered.items():
        spec = pod_spec(deployment(docs))
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 10000
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for item in all_containers(docs):
            ctx = item["securityContext"]
            where = f"{overlay}/{item['name']}"
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for bound in ("requests", "limits"):
                assert set(item["resources"][bound]) == {"cpu", "memory"}, where


def test_models_arrive_in_an_emptydir_mounted_read_only_into_the_server(
    rendered: dict[str, list[Doc]],
) -> None:
    for docs in rendered.values():
        spec = pod_spec(deployment(docs))
        volumes = {v["name"]: v for v in spec["volumes"]}
        init = next(c for c in spec["initContainers"] if c["name"] == "models")
        init_mount = next(m for m in init["volumeMounts"] if m["mountPath"] == "/models")
        assert "emptyDir" in volumes[init_mount["name"]] and not init_mount.get("readOnly")
        server_mount = next(
            m for m in container(deployment(docs))["volumeMounts"] if m["mountPath"] == "/models"
        )
        assert server_mount["name"] == init_mount["name"] and server_mount["readOnly"] is True


def test_images_are_mapped_in_one_place_and_pinned(rendered: dict[str, list[Doc]]) -> None:
    images = {c["name"]: c["image"] for c in all_containers(rendered["prod"])}
    assert images == {"models": "tfkit-models:1", "tensorflow-serving": "tensorflow/serving:2.19.0"}
    for docs in rendered.values():
        for item in all_containers(docs):
            name, _, tag = item["image"].rpartition(":")
            assert name and tag and tag != "latest", item["image"]
    sources = [
        p for p in K8S_DIR.rglob("*.yaml") if "rendered" not in p.parts and p.name != "kustomization.yaml"
    ]
    for path in sources:
        for line in path.read_text().splitlines():
            if line.strip().startswith("image:"):
                assert ":" not in line.split("image:")[1].split("#")[0], f"{path}: tag outside `images:`"


def test_configmap_holds_exactly_the_serving_configs(rendered: dict[str, list[Doc]]) -> None:
    for overlay in ("dev", "prod"):
        data = find(rendered[overlay], "ConfigMap")["data"]
        assert data == {
            name: config_text(name) for name in ("models.config", "batching.config", "monitoring.config")
        }
    canary = find(rendered["canary"], "ConfigMap")["data"]
    assert canary["models.config"] == (OVERLAYS_DIR / "canary" / "models.config").read_text()
    assert canary["batching.config"] == config_text("batching.config")
    mounted = configmap_mounts(deployment(rendered["dev"]))
    assert list(mounted.values()) == [find(rendered["dev"], "ConfigMap")["metadata"]["name"]]


def test_scrape_annotations_match_monitoring_config(rendered: dict[str, list[Doc]]) -> None:
    monitoring = read_monitoring_config_file(str(SERVING / "monitoring.config"))
    assert monitoring.enabled
    for docs in rendered.values():
        annotations = deployment(docs)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == monitoring.path
        assert (
            annotations["prometheus.io/port"]
            == flag_map(container(deployment(docs))["args"])["--rest_api_port"]
        )


def test_service_exposes_grpc_and_http_to_the_pods(rendered: dict[str, list[Doc]]) -> None:
    for docs in rendered.values():
        service = find(docs, "Service", "tfkit-serving")
        ports = {p["name"]: (p["port"], p["targetPort"], p["appProtocol"]) for p in service["spec"]["ports"]}
        assert ports == {"grpc": (8500, "grpc", "kubernetes.io/h2c"), "http": (8501, "http", "http")}
        labels = deployment(docs)["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


def test_dev_is_one_small_replica(rendered: dict[str, list[Doc]]) -> None:
    dev = deployment(rendered["dev"])
    assert dev["spec"]["replicas"] == 1
    assert container(dev)["resources"]["limits"]["memory"] == "1Gi"
    assert {d["kind"] for d in rendered["dev"]} == {"Namespace", "ConfigMap", "Service", "Deployment"}


@pytest.mark.parametrize("overlay", ["prod", "canary"])
def test_prod_shape(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    dep = deployment(docs)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["replicas"] >= 2
    hpa = find(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tfkit-serving",
    }
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    pdb = find(docs, "PodDisruptionBudget")
    assert (
        pdb["spec"]["selector"]["matchLabels"].items() <= labels.items() and pdb["spec"]["minAvailable"] >= 1
    )
    spread = {c["topologyKey"]: c for c in pod_spec(dep)["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()


def test_networkpolicy_admits_only_labelled_clients_and_the_scraper(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["prod"]
    policy = find(docs, "NetworkPolicy")["spec"]
    labels = deployment(docs)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    clients, scraper = policy["ingress"]
    assert clients["from"] == [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"tfkit.io/client": "true"}}}
    ]
    assert {p["port"] for p in clients["ports"]} == {"grpc", "http"}
    assert scraper["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert [p["port"] for p in scraper["ports"]] == ["http"], "the scraper reaches the metrics port only"


def test_canary_config_serves_two_labelled_versions_per_model() -> None:
    canary = parse_model_server_config(
        (OVERLAYS_DIR / "canary" / "models.config").read_text()
    ).model_config_list
    stable = parse_model_server_config(config_text("models.config")).model_config_list
    assert [c.name for c in canary.config] == [c.name for c in stable.config]
    for config, base in zip(canary.config, stable.config, strict=True):
        assert config.base_path == base.base_path and config.model_platform == base.model_platform
        versions = list(config.model_version_policy.specific.versions)
        labels = dict(config.version_labels)
        assert set(labels) == {"stable", "canary"} and labels["stable"] < labels["canary"]
        assert sorted(labels.values()) == sorted(versions), "every label points at a served version"


def test_object_storage_component_swaps_the_init_container(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["object-storage"]
    spec = pod_spec(deployment(docs))
    init = next(c for c in spec["initContainers"] if c["name"] == "models")
    assert init["image"].startswith("rclone/rclone:") and init["command"] == ["rclone"]
    assert init["args"][0] == "copy" and init["args"][-2:] == ["$(MODEL_SOURCE)", "/models"]
    source = find(docs, "ConfigMap", init["env"][0]["valueFrom"]["configMapKeyRef"]["name"])
    assert source["data"]["MODEL_SOURCE"].startswith("store:")
    secret_volume = next(v for v in spec["volumes"] if v["name"] == "model-store-credentials")
    assert secret_volume["secret"]["secretName"] == "tfkit-model-store"
    assert not any(d["kind"] == "Secret" for d in docs), "credentials are never rendered from the repo"


def test_render_writes_one_file_per_overlay(tmp_path: Path) -> None:
    written = render_overlays(RenderSettings(out=tmp_path, overlays=overlay_names()))
    assert sorted(p.name for p in written) == sorted(f"{name}.yaml" for name in overlay_names())
    assert load_documents(written[0].read_text()) == load_documents(kustomize(OVERLAYS_DIR / written[0].stem))


def test_render_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="unknown overlay"):
        render_overlays(RenderSettings(out=tmp_path, overlays=("nope",)))
    with pytest.raises(RenderError, match="not found on PATH"):
        kustomize(OVERLAYS_DIR / "dev", kubectl=os.fspath(tmp_path / "no-kubectl"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(RenderError, match=r"missing\.yaml"):
        kustomize(broken)
