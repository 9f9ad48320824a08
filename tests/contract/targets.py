"""Where the contract suite sends its requests: `tfkit serve` (default), an external server, or Docker.

Two endpoints: `main` serves the kit's `linear` and `ctr` exactly as configured in serving/models.config;
`extra` serves `pair` (version 1 = linear's SavedModel, version 2 = ctr's, labels stable=1 and canary=2)
with batching on, for the version, label and batching rows of the contract.

    TFSERVING_REST_URL + TFSERVING_GRPC_TARGET   an external server for both endpoints (cases needing
                                                 `pair` are skipped when it does not serve it)
    TFSERVING_TARGET=docker                      tensorflow/serving:2.19.0 via the Docker SDK, serving
                                                 linear, ctr and pair from a copy of the artifacts
    TFKIT_CONTRACT_TFLITE=1                      TFLite mode (`make test-contract-tflite`): the servers run
                                                 with --prefer_tflite_model=true and serve each version's
                                                 model.tflite; cases TFLite cannot serve are skipped with
                                                 the reason (tflite_not_applicable)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.server import REPO

DOCKER_IMAGE = "tensorflow/serving:2.19.0"
PAIR_LABELS = {"stable": 1, "canary": 2}
TFLITE_ENV = "TFKIT_CONTRACT_TFLITE"
TFLITE_FLAG = "--prefer_tflite_model=true"
_PREDICT_ONLY = (
    "TFLite mode: upstream's TfLiteSession (servables/tensorflow/tflite_session.cc) runs Predict only; "
    "TFLite has no Classify/Regress and no tf.Example parsing, and the version's model.tflite carries only "
    "serving_default (the tf.Example signatures need ParseExample, outside TFLite's builtins)"
)


@dataclass(frozen=True)
class Endpoint:
    rest_url: str
    grpc_target: str
    kind: str  # "tfkit", "external" or "docker"


class DockerUnreachable(RuntimeError):
    """TFSERVING_TARGET=docker but no Docker engine answers."""


def external_endpoint() -> Endpoint | None:
    rest, grpc_target = os.environ.get("TFSERVING_REST_URL"), os.environ.get("TFSERVING_GRPC_TARGET")
    if bool(rest) != bool(grpc_target):
        raise RuntimeError("set both TFSERVING_REST_URL and TFSERVING_GRPC_TARGET (or neither)")
    return Endpoint(rest.rstrip("/"), grpc_target, "external") if rest and grpc_target else None


def tflite_mode() -> bool:
    """The servers prefer each version's model.tflite (TFKIT_CONTRACT_TFLITE=1)."""
    return os.environ.get(TFLITE_ENV, "") not in ("", "0")


# Cases whose expectation is TensorFlow's own behaviour, which a TFLite model does not share.
_TFLITE_DIFFERS = {
    "error-wrong-shape": (
        "TFLite mode: the [-1, 1] shape check is TensorFlow's graph; upstream's TfLiteSession resizes each "
        "input to the fed shape (tflite_session.cc, ResizeInputTensor) and linear's FULLY_CONNECTED reads "
        "x [1, 3] as 3 rows of 1, answering y [3, 1] where the SavedModel refuses"
    ),
}


def tflite_not_applicable(spec: dict[str, Any]) -> str | None:
    """Why a case (cases.yaml entry) cannot hold in TFLite mode, or None when it applies there too."""
    if spec.get("id") in _TFLITE_DIFFERS:
        return _TFLITE_DIFFERS[spec["id"]]
    body = spec.get("json")
    signature = body.get("signature_name") if isinstance(body, dict) else spec.get("signature")
    if spec.get("call") in ("classify", "regress") or spec.get("rpc") in (
        "Classify",
        "Regress",
        "MultiInference",
    ):
        return _PREDICT_ONLY
    if str(spec.get("path", "")).endswith((":classify", ":regress")):
        return _PREDICT_ONLY
    if isinstance(signature, str) and signature not in ("serving_default", "no_such_signature"):
        return _PREDICT_ONLY
    expect = spec.get("expect", {})
    lists_signatures = "signatures" in expect or (
        str(spec.get("path", "")).endswith("/metadata") and expect.get("status") == 200
    )
    if lists_signatures:
        return _PREDICT_ONLY + " (its metadata lists that one signature)"
    return None


def latest_version(models: Path) -> Path:
    versions = [p for p in models.iterdir() if p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"no numbered version directory under {models}")
    return max(versions, key=lambda p: int(p.name))


def pair_config(base: str) -> str:
    labels = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in PAIR_LABELS.items())
    return (
        "model_config_list {\n  config {\n"
        f'    name: "pair"\n    base_path: "{base}/pair"\n    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 1 versions: 2 } }\n"
        f"{labels}  }}\n}}\n"
    )


def build_pair_models(artifacts: Path, out: Path) -> Path:
    """out/pair/1 = linear's latest SavedModel, out/pair/2 = ctr's (copies: they also go into containers)."""
    for version, model in ((1, "linear"), (2, "ctr")):
        target = out / "pair" / str(version)
        if not target.exists():
            shutil.copytree(latest_version(artifacts / "models" / model), target)
    return out


def _docker_client() -> Any:
    try:
        import docker
    except ImportError as error:
        raise DockerUnreachable(f"the Docker SDK is not installed (pip install docker): {error}") from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException as error:
        raise DockerUnreachable(
            "no Docker engine reachable (docker.from_env() / ping failed: "
            f"{error}). Start Docker (or set DOCKER_HOST), or unset TFSERVING_TARGET to test `tfkit serve`."
        ) from None
    return client


def _wait_available(rest_url: str, models: list[str], container: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(models)
    while pending:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs().decode(errors="replace")[-4000:]
            raise RuntimeError(f"{DOCKER_IMAGE} exited while loading models:\n{logs}")
        with contextlib.suppress(requests.RequestException):
            body = requests.get(f"{rest_url}/v1/models/{pending[0]}", timeout=2).json()
            if any(v.get("state") == "AVAILABLE" for v in body.get("model_version_status", [])):
                pending.pop(0)
                continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending} not AVAILABLE in {DOCKER_IMAGE} after {timeout}s")
        time.sleep(0.25)


@contextlib.contextmanager
def docker_endpoint(artifacts: Path, workdir: Path, timeout: float = 300.0) -> Iterator[Endpoint]:
    """Run tensorflow/serving with the kit's models (+ pair) and configs mounted; remove it afterwards."""
    client = _docker_client()
    models = workdir / "models"
    shutil.copytree(artifacts / "models", models, dirs_exist_ok=True)
    build_pair_models(artifacts, models)
    config = workdir / "config"
    config.mkdir(parents=True, exist_ok=True)
    kit_config = (REPO / "serving" / "models.config").read_text().rstrip().removesuffix("}")
    pair = pair_config("/models").split("model_config_list {\n", 1)[1]
    (config / "models.config").write_text(kit_config + pair)
    for name in ("batching.config", "monitoring.config"):
        shutil.copy(REPO / "serving" / name, config / name)
    container = client.containers.run(
        DOCKER_IMAGE,
        command=[
            "--model_config_file=/config/models.config",
            "--enable_batching=true",
            "--batching_parameters_file=/config/batching.config",
            "--monitoring_config_file=/config/monitoring.config",
            "--rest_api_enable_cors_support=true",
            "--enable_grpc_healthcheck_service=true",
            "--allow_version_labels_for_unavailable_models=true",  # pair's labels at startup
            *([TFLITE_FLAG] if tflite_mode() else []),  # TF Serving's own TFLite servable
        ],
        volumes={
            str(models): {"bind": "/models", "mode": "ro"},
            str(config): {"bind": "/config", "mode": "ro"},
        },
        ports={"8500/tcp": ("127.0.0.1", None), "8501/tcp": ("127.0.0.1", None)},
        detach=True,
    )
    try:
        container.reload()
        ports = container.attrs["NetworkSettings"]["Ports"]
        rest_url = f"http://127.0.0.1:{ports['8501/tcp'][0]['HostPort']}"
        endpoint = Endpoint(rest_url, f"127.0.0.1:{ports['8500/tcp'][0]['HostPort']}", "docker")
        _wait_available(rest_url, ["linear", "ctr", "pair"], container, timeout)
        yield endpoint
    finally:
        container.remove(force=True)
