"""Helpers for the ports of upstream's server_core / flag cases (tests/upstream/test_server_core_cases.py,
tests/upstream/test_flag_cases.py): the half_plus_two / half_plus_three model directories in upstream's
versions, gRPC calls on a live `tfkit serve`, waits that poll (never sleep blindly), and the steps the
server_core cases are written in (Reload, States, Predict, Start) with their interpreter `run_step`.

Upstream's fixtures (model_servers/test_util/server_core_test_util.h): version 123 (kTestModelVersion),
124 (kTestModelLargerVersion), 777 (kTestModelBogusVersion, never on disk); half_plus_two answers
x=2 -> 3.0, half_plus_three x=2 -> 4.0.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from tests.support.server import REPO, TFKIT, LiveServer, free_port
from tests.unit.core_savedmodels import add_version

VERSION = 123
LARGER_VERSION = 124
BOGUS_VERSION = 777
AVAILABLE, END = "AVAILABLE", "END"


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


def self_signed(directory: Path, name: str) -> tuple[str, str]:
    """A throwaway key and certificate for localhost / 127.0.0.1 (PEM texts), made with openssl."""
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key.read_text(), cert.read_text()


# --- The server_core cases' steps (tests/upstream/test_server_core_cases.py) ---------------------------


@dataclass(frozen=True)
class Reload:
    """HandleReloadConfigRequest (or, on `poll`, a rewrite of the config file) with these models."""

    models: tuple[tuple[str, str], ...]  # (model name, key of half_plus_models() or a literal path)
    policy: str = ""
    labels: dict[str, int] = field(default_factory=dict)
    raw: str = ""  # a literal text-format config instead of `models`
    code: str = "OK"
    text: str = ""  # expected in the error message (gRPC) or in the log (poll)


@dataclass(frozen=True)
class States:
    model: str
    expected: dict[int, str]
    now: bool = False  # True: must hold right after the previous step, no waiting


@dataclass(frozen=True)
class Predict:
    model: str
    spec: dict[str, Any]
    y: float = 0.0
    version: int = 0
    code: str = "OK"
    text: str = ""


@dataclass(frozen=True)
class Start:
    """`tfkit serve` with this config (and flags) must stop: exit code and stderr text."""

    config: str
    flags: tuple[str, ...] = ()
    exit_code: int = 255
    text: str = ""
    ends_with: str = ""


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # core | allow | poll | none
    steps: tuple[Any, ...]


def cfg(name: str, key: str, extra: str = "") -> str:
    return f'config {{ name: "{name}" base_path: "{{{key}}}" {extra} }}'


@dataclass
class Running:
    live: LiveServer
    config_file: Path  # the --model_config_file (rewritten by `poll` steps)


def first_response_is_available(live: LiveServer, model: str) -> None:
    """The REST port answers for the first time only once `model` is AVAILABLE (server.cc order)."""
    step = deadline_loop("REST port open", 300)
    while True:
        if live.process.poll() is not None:
            raise RuntimeError(live.log())
        with contextlib.suppress(requests.ConnectionError):
            status = requests.get(f"{live.rest_url}/v1/models/{model}", timeout=30).json()
            assert [v["state"] for v in status["model_version_status"]] == ["AVAILABLE"], status
            return
        step()


def wait_up(live: LiveServer) -> None:
    step = deadline_loop("REST port open", 300)
    while True:
        if live.process.poll() is not None:
            raise RuntimeError(live.log())
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{live.rest_url}/v1/models/none", timeout=30)
            return
        step()


def fill(text: str, models: dict[str, Path]) -> str:
    """Replace `{one}`, `{two}`, ... with the model directories."""
    for key, path in models.items():
        text = text.replace("{" + key + "}", str(path))
    return text


def write_atomically(path: Path, text: str) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    staging.rename(path)


def config_text(step: Reload, models: dict[str, Path]) -> str:
    if step.raw:
        return fill(step.raw, models)
    entries = tuple((name, models.get(key, Path(key))) for name, key in step.models)
    return model_config(*entries, policy=step.policy, labels=step.labels)


def run_step(step: Any, running: Running | None, models: dict[str, Path], poll: bool) -> None:
    if isinstance(step, Start):
        config = Path(models["one"]).parent / "start.config"
        config.write_text(fill(step.config, models))
        argv = [*TFKIT, "serve", f"--model_config_file={config}", "--max_num_load_retries=0", *step.flags]
        done = run_to_exit([*argv, f"--port={free_port()}", f"--rest_api_port={free_port()}"], REPO)
        assert done.returncode == step.exit_code, done.stderr[-3000:]
        assert step.text in done.stderr, done.stderr[-3000:]
        assert done.stderr.rstrip().endswith(step.ends_with), done.stderr[-3000:]
        return
    assert running is not None
    live = running.live
    with grpc.insecure_channel(live.grpc_target) as channel:
        if isinstance(step, Reload):
            text = config_text(step, models)
            if poll:
                mark = len(live.log())
                write_atomically(running.config_file, text)
                step_wait = deadline_loop(step.text or f"{step.models} loaded by the poll", 120)
                if step.text:
                    while step.text not in live.log()[mark:]:
                        step_wait()
                for name, _ in () if step.text else step.models:
                    while states(channel, name).get(VERSION) != AVAILABLE:
                        step_wait()
                return
            err = reload(live.grpc_target, text)
            if step.code == "OK":
                assert err is None, err.details()
            else:
                assert err is not None and err.code().name == step.code, err
                assert step.text in err.details(), err.details()
        elif isinstance(step, States):
            if step.now:
                assert states(channel, step.model) == step.expected
            else:
                wait_states(channel, step.model, step.expected)
        elif isinstance(step, Predict):
            if step.code == "OK":
                step_wait = deadline_loop(f"{step.model} answering from version {step.version}", 120)
                while True:
                    with contextlib.suppress(grpc.RpcError):
                        if predict(channel, step.model, **step.spec) == (step.y, step.version):
                            return
                    step_wait()
            with pytest.raises(grpc.RpcError) as info:
                predict(channel, step.model, **step.spec)
            assert info.value.code().name == step.code and info.value.details() == step.text
