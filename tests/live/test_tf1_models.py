"""A TF1 (graph-mode) SavedModel served by a live `tfkit serve`, over every REST and gRPC API, answering
exactly as the TF2 model of the same family served beside it.

`half_plus_two` is the kit's own TF1 model (tests/support/tf1_models.py), `half_tf2` the TF2 one of
tests/unit/core_savedmodels.py; one server loads both from a model config file. Expected answers are
upstream's:
the REST tutorial (instances [1.0, 2.0, 5.0] -> predictions [2.5, 3.0, 4.5]),
model_servers/tensorflow_model_server_test.py (testClassify, testRegress, testMultiInference,
testGetModelMetadata: x = 2 -> 3.0) and servables/tensorflow/classifier.cc for the signature error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.grpc.codec import numpy_from_tensor_proto
from tests.support.server import LiveServer, running_server
from tests.support.tf1_models import half_plus_two_tf1_base
from tests.unit.core_savedmodels import add_version

pytestmark = pytest.mark.live
MODEL = "half_plus_two"
TF2 = "half_tf2"
BOTH = pytest.mark.parametrize("model", [MODEL, TF2])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("tf1")
    tf1 = half_plus_two_tf1_base(root / MODEL)
    tf2 = root / TF2
    add_version(tf2, 1)
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" }}\n'
            for name, base in ((MODEL, tf1), (TF2, tf2))
        )
        + "}\n"
    )
    with running_server([f"--model_config_file={config}"], wait_models=[MODEL, TF2]) as live:
        yield live


@pytest.fixture(scope="module")
def stub(server: LiveServer) -> Iterator[prediction_service_pb2_grpc.PredictionServiceStub]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _post(server: LiveServer, verb: str, body: Any, model: str = MODEL) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/{model}:{verb}", json=body, timeout=30)


def _examples(message: Any, *xs: float) -> None:
    for x in xs:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(x)
        message.example_list.examples.add().CopyFrom(example)


def _regress_request(model: str, signature: str) -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    _examples(request.input, 2.0)
    return request


# -- REST ---------------------------------------------------------------------------------------------


@BOTH
def test_rest_predict(server: LiveServer, model: str) -> None:
    resp = _post(server, "predict", {"instances": [1.0, 2.0, 5.0]}, model)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": [2.5, 3.0, 4.5]}


@BOTH
def test_rest_classify_and_regress(server: LiveServer, model: str) -> None:
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert _post(server, "classify", body, model).json() == {"results": [[["", 3.0]]]}
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]}
    assert _post(server, "regress", body, model).json() == {"results": [3.0, 4.0]}


def test_rest_metadata(server: LiveServer) -> None:
    doc = requests.get(f"{server.rest_url}/v1/models/{MODEL}/metadata", timeout=30).json()
    signatures = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y", "regress_x2_to_y3"} <= set(signatures)
    assert signatures["regress_x_to_y"]["inputs"]["inputs"]["name"] == "tf_example:0"


@BOTH
def test_rest_classify_on_predict_signature_is_invalid_argument(server: LiveServer, model: str) -> None:
    resp = _post(server, "classify", {"examples": [{"x": 2.0}]}, model)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("No classification inputs found in SignatureDef: inputs {")


# -- gRPC ---------------------------------------------------------------------------------------------


@BOTH
def test_grpc_predict(stub: prediction_service_pb2_grpc.PredictionServiceStub, model: str) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].tensor_shape.dim.add().size = 3
    request.inputs["x"].float_val.extend([1.0, 2.0, 5.0])
    response = stub.Predict(request, timeout=30)
    assert numpy_from_tensor_proto(response.outputs["y"]).tolist() == [2.5, 3.0, 4.5]
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 1


@BOTH
def test_grpc_classify_and_regress(
    stub: prediction_service_pb2_grpc.PredictionServiceStub, model: str
) -> None:
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = model
    classify.model_spec.signature_name = "classify_x_to_y"
    _examples(classify.input, 2.0)
    result = stub.Classify(classify, timeout=30).result
    assert [[c.score for c in r.classes] for r in result.classifications] == [[3.0]]
    regress = _regress_request(model, "regress_x_to_y")
    assert [r.value for r in stub.Regress(regress, timeout=30).result.regressions] == [3.0]


@BOTH
def test_grpc_multi_inference(stub: prediction_service_pb2_grpc.PredictionServiceStub, model: str) -> None:
    # multi_inference_test.cc RegressAndClassifySignaturesTest, run there on the TF1 and TF2 models.
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")):
        task = request.tasks.add()
        task.model_spec.name = model
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{method}"
    _examples(request.input, 2.0)
    results = stub.MultiInference(request, timeout=30).results
    assert [r.regressions[0].value for r in [results[0].regression_result]] == [3.0]
    assert results[1].classification_result.classifications[0].classes[0].score == 3.0
    assert [r.model_spec.signature_name for r in results] == ["regress_x_to_y", "classify_x_to_y"]


def test_grpc_metadata(stub: prediction_service_pb2_grpc.PredictionServiceStub) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = MODEL
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["serving_default"].inputs["x"].name == "x:0"


@BOTH
def test_grpc_regress_on_predict_signature_is_invalid_argument(
    stub: prediction_service_pb2_grpc.PredictionServiceStub, model: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Regress(_regress_request(model, ""), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("No regression inputs found in SignatureDef: inputs {")


def test_status_lists_the_version(server: LiveServer) -> None:
    assert server.available_versions(MODEL) == [1]
