"""GrpcClient's one mapping boundary, retries and message limits, against a real in-process gRPC server.

The scripted PredictionService answers by model name: `code-<N>` aborts with status code N and details
`message <N>`; `flaky-<k>` aborts UNAVAILABLE k times, then echoes the inputs back as outputs; `slow`
waits first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from clients import errors
from clients.grpc import GrpcClient, error_from_rpc
from clients.retry import RetryPolicy
from tests.support.server import free_port

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.02, max_elapsed=5.0)


class Scripted(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.requests: list[predict_pb2.PredictRequest] = []
        self.release = threading.Event()

    def Predict(self, request: predict_pb2.PredictRequest, context: Any) -> predict_pb2.PredictResponse:
        self.requests.append(request)
        name = request.model_spec.name
        if name.startswith("code-"):
            code = int(name.split("-")[1])
            status = next(s for s in grpc.StatusCode if s.value[0] == code)
            context.abort(status, f"message {code}")
        if name == "slow":
            self.release.wait(10)
        if name.startswith("flaky-"):
            count = self.counts[name] = self.counts.get(name, 0) + 1
            if count <= int(name.split("-")[1]):
                context.abort(grpc.StatusCode.UNAVAILABLE, "The batch scheduling queue ... is full")
        response = predict_pb2.PredictResponse()
        for alias, tensor in request.inputs.items():
            response.outputs[alias].CopyFrom(tensor)
        return response


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Scripted]]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
    )
    servicer = Scripted()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (3, errors.InvalidArgument),
        (4, errors.DeadlineExceeded),
        (5, errors.NotFound),
        (8, errors.ResourceExhausted),
        (9, errors.FailedPrecondition),
        (12, errors.Unimplemented),
        (13, errors.Internal),
    ],
)
def test_status_code_becomes_the_typed_error_with_the_servers_details(
    served: tuple[str, Scripted], code: int, error: type[errors.ServingError]
) -> None:
    target, servicer = served
    with GrpcClient(target, retry=FAST_RETRY) as client, pytest.raises(error) as info:
        client.predict(f"code-{code}", {"x": np.zeros((1, 1), np.float32)})
    assert type(info.value) is error and info.value.message == f"message {code}"
    assert sum(r.model_spec.name == f"code-{code}" for r in servicer.requests) == 1  # never retried


def test_unavailable_is_retried_and_tensors_round_trip(served: tuple[str, Scripted]) -> None:
    target, servicer = served
    inputs: dict[str, Any] = {
        "f": np.arange(6, dtype=np.float32).reshape(2, 3),
        "id": np.array([2**40, 7]),
        "s": [b"\x00a", "b"],
    }
    with GrpcClient(target, retry=FAST_RETRY) as client:
        out = client.predict("flaky-2", inputs, version=0, signature="sig")
    assert servicer.counts["flaky-2"] == 3
    assert out["f"].dtype == np.float32 and np.array_equal(out["f"], inputs["f"])
    assert out["id"].dtype == np.int64 and out["id"].tolist() == [2**40, 7]
    assert out["s"].tolist() == [b"\x00a", b"b"]
    spec = servicer.requests[-1].model_spec
    assert spec.HasField("version") and spec.version.value == 0 and spec.signature_name == "sig"


def test_messages_above_4_mib_pass_by_default_and_the_limit_is_configurable(
    served: tuple[str, Scripted],
) -> None:
    target, _ = served
    big = {"x": np.ones((3 << 20) // 4 * 2, np.float32)}  # 6 MiB each way
    with GrpcClient(target, retry=FAST_RETRY) as client:
        assert np.array_equal(client.predict("flaky-0", big)["x"], big["x"])
    small = GrpcClient(target, retry=FAST_RETRY, max_message_bytes=1 << 20)
    with small, pytest.raises(errors.ResourceExhausted, match="larger than max"):
        small.predict("flaky-0", big)


def test_connection_refused_is_a_connection_failure() -> None:
    with (
        GrpcClient(
            f"127.0.0.1:{free_port()}", retry=RetryPolicy(max_attempts=2, initial_backoff=0.0)
        ) as client,
        pytest.raises(errors.Unavailable) as info,
    ):
        client.predict("m", {"x": np.zeros(1, np.float32)}, timeout=5)
    assert isinstance(info.value, errors.ConnectionFailed)


def test_a_client_deadline_is_deadline_exceeded(served: tuple[str, Scripted]) -> None:
    target, servicer = served
    servicer.release.clear()
    try:
        with GrpcClient(target, timeout=30) as client, pytest.raises(errors.DeadlineExceeded):
            client.predict("slow", {"x": np.zeros(1, np.float32)}, timeout=0.2)
    finally:
        servicer.release.set()


def test_non_call_rpc_errors_map_to_unknown() -> None:
    assert type(error_from_rpc(grpc.RpcError())) is errors.Unknown
