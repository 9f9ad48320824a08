"""Helpers for the ports of upstream's server_core / flag cases (tests/upstream/test_server_core_cases.py,
tests/upstream/test_flag_cases.py): the half_plus_two / half_plus_three model directories in upstream's
versions, gRPC calls on a live `tfkit serve`, and waits that poll (never sleep blindly).

Upstream's fixtures (model_servers/test_util/server_core_test_util.h): version 123 (kTestModelVersion),
124 (kTestModelLargerVersion), 777 (kTestModelBogusVersion, never on disk); half_plus_two answers
x=2 -> 3.0, half_plus_three x=2 -> 4.0.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from tests.support.server import LiveServer
from tests.unit.core_savedmodels import add_version

VERSION = 123
LARGER_VERSION = 124
BOGUS_VERSION = 777


def half_plus_models(root: Path) -> dict[str, Path]:
    """Base paths: `one` (half_plus_two at 123), `two` (123 and 124, the 2-versions model; 124 adds 1),
    `three` (half_plus_three at 123), `broken` (a version that cannot load)."""
    paths = {name: root / name for name in ("one", "two", "three", "broken")}
    add_version(paths["one"], VERSION, offset=2.0)
    add_version(paths["two"], VERSION, offset=2.0)
    add_version(paths["two"], LARGER_VERSION, offset=3.0)
    add_version(paths["three"], VERSION, offset=3.0)
    bad = paths["broken"] / str(VERSION)
    bad.mkdir(parents=True)
    (bad / "saved_model.pb").write_bytes(b"not a saved model")
    return paths


def model_config(*models: tuple[str, Path], policy: str = "", labels: dict[str, int] | None = None) -> str:
    """Text-format ModelServerConfig; `policy` and `labels` apply to every listed model."""
    entries = []
    for name, path in models:
        extra = f" model_version_policy {{ {policy} }}" if policy else ""
        extra += "".join(f' version_labels {{ key: "{k}" value: {v} }}' for k, v in (labels or {}).items())
        entries.append(f'config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow"{extra} }}')
    return "model_config_list { " + " ".join(entries) + " }"


def deadline_loop(what: str, timeout: float = 120.0) -> Callable[[], None]:
    """A poll step: call it in a loop; it pauses briefly and raises once `timeout` has passed."""
    end = time.monotonic() + timeout

    def step() -> None:
        if time.monotonic() > end:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)

    return step


def reload(target: str, text: str, credentials: Any = None) -> Any:
    """HandleReloadConfigRequest with a text-format ModelServerConfig; returns the gRPC error or None."""
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    with grpc.insecure_channel(target) as channel:
        try:
            model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=300)
        except grpc.RpcError as err:
            return err
    return None


def predict(channel: grpc.Channel, model: str, x: float = 2.0, **spec: Any) -> tuple[float, int]:
    """Predict x on `serving_default`; returns (y, version that answered)."""
    import numpy as np
    import tensorflow as tf
    from google.protobuf import wrappers_pb2
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    if "version" in spec:
        spec = {**spec, "version": wrappers_pb2.Int64Value(value=spec["version"])}
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model, **spec))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    return float(tf.make_ndarray(reply.outputs["y"])[0]), int(reply.model_spec.version.value)


def states(channel: grpc.Channel, model: str) -> dict[int, str]:
    """GetModelStatus as {version: state name}; {} when the model is unknown."""
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    try:
        reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    except grpc.RpcError:
        return {}
    names = get_model_status_pb2.ModelVersionStatus.State.Name
    return {int(s.version): names(s.state) for s in reply.model_version_status}


def wait_states(channel: grpc.Channel, model: str, expected: dict[int, str], timeout: float = 120.0) -> None:
    step = deadline_loop(f"{model} states {expected}", timeout)
    while states(channel, model) != expected:
        step()


def wait_grpc(server: LiveServer, target: str, model: str, timeout: float = 180.0) -> None:
    """Wait until `model` has an AVAILABLE version over gRPC at `target` (for servers without REST)."""
    step = deadline_loop(f"{model} AVAILABLE at {target}", timeout)
    with grpc.insecure_channel(target) as channel:
        while "AVAILABLE" not in states(channel, model).values():
            if server.process.poll() is not None:
                raise RuntimeError(f"tfkit serve exited with {server.process.returncode}:\n{server.log()}")
            step()


def wait_log(server: LiveServer, text: str, timeout: float = 120.0) -> None:
    step = deadline_loop(f"log line {text!r}", timeout)
    while text not in server.log():
        step()


def run_to_exit(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a `tfkit serve` that is expected to stop on its own."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
