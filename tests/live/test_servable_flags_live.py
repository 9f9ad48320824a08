"""The servable flags reach a live `tfkit serve`: `--prefer_tflite_model` serves `<version>/model.tflite`
through LiteRT, `--enable_serialization_as_tensor_content` changes how gRPC Predict writes its outputs.

Upstream: model_servers/server.cc `Server::BuildAndStart` (session_bundle_config.prefer_tflite_model;
predict_response_tensor_serialization_option = kAsProtoContent), servables/tensorflow/tflite_session.cc
(a model without SignatureDefs metadata gets one predict `serving_default`), predict_util.cc (outputs as
typed fields by default, AsProtoTensorContent with the flag).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.grpc.codec import fill_tensor_proto, numpy_from_tensor_proto
from tests.support.half_plus_two import write_half_plus_two
from tests.support.server import LiveServer, running_server

pytestmark = pytest.mark.live
MODEL = "half"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tensorflow as tf

    root = tmp_path_factory.mktemp("flags") / MODEL
    version = write_half_plus_two(root, 1)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(version), signature_keys=["serving_default"])
    (version / "model.tflite").write_bytes(converter.convert())
    return root


def _server(base: Path, *flags: str) -> Iterator[LiveServer]:
    with running_server(
        [f"--model_name={MODEL}", f"--model_base_path={base}", *flags], wait_models=[MODEL]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def lite(base: Path) -> Iterator[LiveServer]:
    yield from _server(base, "--prefer_tflite_model=true", "--enable_serialization_as_tensor_content=true")


@pytest.fixture(scope="module")
def plain(base: Path) -> Iterator[LiveServer]:
    yield from _server(base)


def _signatures(server: LiveServer) -> dict[str, dict]:
    body = requests.get(f"{server.rest_url}/v1/models/{MODEL}/metadata", timeout=30).json()
    return body["metadata"]["signature_def"]["signature_def"]


def _grpc_predict(server: LiveServer) -> predict_pb2.PredictResponse:
    (alias,) = _signatures(server)["serving_default"]["inputs"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    fill_tensor_proto(request.inputs[alias], np.array([1.0, 2.0, 5.0], "float32"))
    with grpc.insecure_channel(server.grpc_target) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)


@pytest.mark.parametrize("which", ["lite", "plain"])
def test_rest_predict_answers_the_same_in_both_modes(which: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(which)
    body = {"instances": [1.0, 2.0, 5.0]}
    answer = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [2.5, 3.0, 4.5]}


def test_prefer_tflite_model_serves_the_tflite_signature(lite: LiveServer, plain: LiveServer) -> None:
    # The TFLite model carries no SignatureDefs metadata: tflite_session.cc's single `serving_default`.
    assert set(_signatures(lite)) == {"serving_default"}
    assert {"serving_default", "regress_x_to_y", "classify_x_to_y"} <= set(_signatures(plain))


def test_outputs_as_tensor_content_only_with_the_flag(lite: LiveServer, plain: LiveServer) -> None:
    (out_lite,) = _grpc_predict(lite).outputs.values()
    (out_plain,) = _grpc_predict(plain).outputs.values()
    assert out_lite.tensor_content and not out_lite.float_val
    assert list(out_plain.float_val) == [2.5, 3.0, 4.5] and not out_plain.tensor_content
    assert numpy_from_tensor_proto(out_lite).tolist() == [2.5, 3.0, 4.5]
