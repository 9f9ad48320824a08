"""`tfkit serve --enable_batching` through both adapters: results split back per request under
concurrency, oversized tasks rejected, a full queue answered with UNAVAILABLE / 503 (contract §2.2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.grpc.codec import numpy_from_tensor_proto, tensor_proto_from_numpy
from tests.support.server import LiveServer, running_server

pytestmark = pytest.mark.live
QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


@pytest.fixture(scope="module")
def batching_server(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    params = tmp_path_factory.mktemp("batching") / "batching.config"
    params.write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 1 }\nnum_batch_threads { value: 1 }\n"
    )
    flags = [
        "--model_config_file=serving/models.config",
        f"--tfkit_path_map=/models={artifacts / 'models'}",
        "--enable_batching=true",
        f"--batching_parameters_file={params}",
    ]
    with running_server(flags, wait_models=["linear"]) as server:
        yield server


def _request(x: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "linear"
    request.inputs["x"].CopyFrom(tensor_proto_from_numpy(x.astype(np.float32)))
    return request


def _stub(server: LiveServer) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(server.grpc_target)
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def test_concurrent_requests_get_their_own_rows(batching_server: LiveServer) -> None:
    channel, stub = _stub(batching_server)
    with channel:
        inputs = [np.arange(k, k + 1 + k % 3, dtype=np.float32).reshape(-1, 1) for k in range(6)]
        expected = [
            numpy_from_tensor_proto(stub.Predict(_request(x), timeout=60).outputs["y"]) for x in inputs
        ]
        for _ in range(5):
            futures = [stub.Predict.future(_request(x), timeout=60) for x in inputs]
            for future, want in zip(futures, expected, strict=True):
                try:
                    got = numpy_from_tensor_proto(future.result().outputs["y"])
                except (
                    grpc.RpcError
                ) as err:  # the tiny queue may turn some away: that is the only allowed error
                    assert err.code() == grpc.StatusCode.UNAVAILABLE and QUEUE_FULL in err.details()
                    continue
                np.testing.assert_allclose(got, want, rtol=1e-6)


def test_task_larger_than_max_batch_size(batching_server: LiveServer) -> None:
    channel, stub = _stub(batching_server)
    with channel, pytest.raises(grpc.RpcError) as info:
        stub.Predict(_request(np.zeros((9, 1))), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 9 is larger than maximum input batch size 8" in info.value.details()
    rest = requests.post(
        f"{batching_server.rest_url}/v1/models/linear:predict", json={"instances": [[0.0]] * 9}, timeout=60
    )
    assert rest.status_code == 400 and "Task size 9 is larger" in rest.json()["error"]


def test_full_queue_is_unavailable_and_server_keeps_serving(batching_server: LiveServer) -> None:
    channel, stub = _stub(batching_server)
    with channel:
        futures = [stub.Predict.future(_request(np.ones((8, 1))), timeout=60) for _ in range(200)]
        codes: dict[grpc.StatusCode, int] = {}
        for future in futures:
            try:
                future.result()
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
                assert code == grpc.StatusCode.UNAVAILABLE and QUEUE_FULL in err.details()
            codes[code] = codes.get(code, 0) + 1
        assert codes.get(grpc.StatusCode.UNAVAILABLE, 0) > 0, codes
        assert codes.get(grpc.StatusCode.OK, 0) > 0, codes
        assert stub.Predict(_request(np.ones((1, 1))), timeout=60).outputs["y"]
