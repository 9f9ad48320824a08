"""gRPC API of a live `tfkit serve` (shared session server): PredictionService, ModelService and
grpc.health.v1 with linear and ctr, and the gRPC error rows of the contract (§2.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.grpc.codec import numpy_from_tensor_proto, tensor_proto_from_numpy
from tests.support.server import LiveServer

pytestmark = pytest.mark.live
OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@pytest.fixture(scope="module")
def channel(live_server: LiveServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(live_server.grpc_target, options=OPTIONS) as ch:
        yield ch


@pytest.fixture(scope="module")
def predict_stub(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel: grpc.Channel) -> model_service_pb2_grpc.ModelServiceStub:
    return model_service_pb2_grpc.ModelServiceStub(channel)


@pytest.fixture(scope="module")
def ctr_rows(artifacts: Path) -> dict[str, np.ndarray]:
    from export.samples import sample_inputs

    return sample_inputs("ctr", artifacts, n=32, seed=4)


def _predict_request(model: str, inputs: dict[str, Any], **spec: Any) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tensor_proto_from_numpy(np.asarray(value))
        )
    return request


def _rpc_error(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    return info.value


def test_predict_linear_echoes_effective_spec(predict_stub: Any) -> None:
    x = np.array([[1.0], [2.0], [5.0]], np.float32)
    response = predict_stub.Predict(_predict_request("linear", {"x": x}), timeout=60)
    assert response.model_spec.name == "linear"
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value >= 1
    y = numpy_from_tensor_proto(response.outputs["y"])
    assert y.shape == (3, 1) and y.dtype == np.float32
    assert len(response.outputs["y"].float_val) == 3  # typed fields, as upstream by default


def test_predict_ctr_matches_rest(
    predict_stub: Any, live_server: LiveServer, ctr_rows: dict[str, np.ndarray]
) -> None:
    response = predict_stub.Predict(_predict_request("ctr", ctr_rows), timeout=60)
    grpc_p = numpy_from_tensor_proto(response.outputs["probability"])
    rest = requests.post(
        f"{live_server.rest_url}/v1/models/ctr:predict",
        json={"inputs": {k: v.tolist() for k, v in ctr_rows.items()}},
        timeout=60,
    )
    np.testing.assert_array_equal(np.array(rest.json()["outputs"], dtype=np.float32), grpc_p)


def test_predict_accepts_typed_fields_and_broadcast(predict_stub: Any) -> None:
    typed = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[2.0])
    typed.tensor_shape.dim.add(size=4)
    typed.tensor_shape.dim.add(size=1)
    response = predict_stub.Predict(_predict_request("linear", {"x": typed}), timeout=60)
    y = numpy_from_tensor_proto(response.outputs["y"]).ravel()
    assert y.shape == (4,) and (y == y[0]).all()


def test_large_message_beyond_4mib(predict_stub: Any, ctr_rows: dict[str, np.ndarray]) -> None:
    n = 12_000  # ~5.8 MB of features: above gRPC's 4 MiB default, fine with upstream's INT32_MAX
    inputs = {k: np.resize(v, (n, *v.shape[1:])) for k, v in ctr_rows.items()}
    response = predict_stub.Predict(_predict_request("ctr", inputs), timeout=120)
    assert numpy_from_tensor_proto(response.outputs["probability"]).shape == (n, 1)


def test_output_filter(predict_stub: Any, ctr_rows: dict[str, np.ndarray]) -> None:
    request = _predict_request("ctr", ctr_rows)
    request.output_filter.append("probability")
    assert set(predict_stub.Predict(request, timeout=60).outputs) == {"probability"}
    request.output_filter.append("probability")
    err = _rpc_error(predict_stub.Predict, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "duplicate output tensor alias: probability" in err.details()
    del request.output_filter[:]
    request.output_filter.append("nope")
    err = _rpc_error(predict_stub.Predict, request)
    assert "output tensor alias not found in signature: nope" in err.details()


X = {"x": np.array([[1.0]], np.float32)}


@pytest.mark.parametrize(
    ("request_factory", "code", "message"),
    [
        (lambda: _predict_request("nope", X), "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (
            lambda: _predict_request("linear", X, version=999),
            "NOT_FOUND",
            "Servable not found for request: Specific(linear, 999)",
        ),
        (
            lambda: _predict_request("linear", X, version_label="canary"),
            "INVALID_ARGUMENT",
            "Unrecognized servable version label: canary",
        ),
        (lambda: _predict_request("", X), "INVALID_ARGUMENT", "ModelSpec has no name specified."),
        (lambda: predict_pb2.PredictRequest(), "INVALID_ARGUMENT", "Missing ModelSpec"),
        (
            lambda: _predict_request("linear", X, signature_name="nope"),
            "FAILED_PRECONDITION",
            'Serving signature key "nope" not found.',
        ),
        (
            lambda: _predict_request("linear", {"a": X["x"], "b": X["x"]}),
            "INVALID_ARGUMENT",
            "input size does not match signature",
        ),
        (lambda: _predict_request("linear", {"x": np.array([["s"]], dtype=object)}), "INVALID_ARGUMENT", ""),
        (
            lambda: _predict_request(
                "linear", {"x": tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"abc")}
            ),
            "INVALID_ARGUMENT",
            "tensor parsing error: x",
        ),
    ],
)
def test_predict_errors(predict_stub: Any, request_factory: Any, code: str, message: str) -> None:
    err = _rpc_error(predict_stub.Predict, request_factory())
    assert err.code() == grpc.StatusCode[code]
    assert message in err.details()


def _ctr_input(artifacts: Path, n: int) -> Any:
    from tensorflow_serving.apis import input_pb2

    from export.samples import sample_examples

    data = input_pb2.Input()
    for serialized in sample_examples(artifacts, n=n, seed=6):
        data.example_list.examples.add().CopyFrom(example_pb2.Example.FromString(serialized))
    return data


def test_classify_ctr(predict_stub: Any, artifacts: Path) -> None:
    request = classification_pb2.ClassificationRequest(input=_ctr_input(artifacts, 5))
    request.model_spec.name = "ctr"
    request.model_spec.signature_name = "classification"
    response = predict_stub.Classify(request, timeout=60)
    assert response.model_spec.signature_name == "classification"
    assert len(response.result.classifications) == 5
    for item in response.result.classifications:
        assert [c.label for c in item.classes] == ["0", "1"]
        assert sum(c.score for c in item.classes) == pytest.approx(1.0, abs=1e-5)


def test_regress_linear_with_context(predict_stub: Any, artifacts: Path) -> None:
    metrics = json.loads((artifacts / "manifest.json").read_text())["models"]["linear"]["metrics"]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "linear"
    request.model_spec.signature_name = "regression"
    request.input.example_list_with_context.context.features.feature["x"].float_list.value.append(3.0)
    request.input.example_list_with_context.examples.add()
    response = predict_stub.Regress(request, timeout=60)
    (value,) = [r.value for r in response.result.regressions]
    assert value == pytest.approx(metrics["w"] * 3.0 + metrics["b"], abs=1e-3)


def test_classify_errors(predict_stub: Any, artifacts: Path) -> None:
    request = classification_pb2.ClassificationRequest(input=_ctr_input(artifacts, 1))
    request.model_spec.name = "ctr"
    request.model_spec.signature_name = "nope"
    err = _rpc_error(predict_stub.Classify, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No signature was found with the name: nope" in err.details()


def test_multi_inference(predict_stub: Any, artifacts: Path) -> None:
    request = inference_pb2.MultiInferenceRequest(input=_ctr_input(artifacts, 3))
    task = request.tasks.add()
    task.model_spec.name = "ctr"
    task.model_spec.signature_name = "classification"
    task.method_name = "tensorflow/serving/classify"
    response = predict_stub.MultiInference(request, timeout=60)
    (result,) = response.results
    assert result.model_spec.name == "ctr"
    assert len(result.classification_result.classifications) == 3


def test_metadata(predict_stub: Any) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "ctr"
    response = predict_stub.GetModelMetadata(request, timeout=60)
    assert response.model_spec.name == "ctr" and response.model_spec.version.value >= 1
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(defs)
    assert defs.signature_def["serving_default"].inputs["feature"].dtype == types_pb2.DT_FLOAT
    del request.metadata_field[:]
    err = _rpc_error(predict_stub.GetModelMetadata, request)
    assert "GetModelMetadataRequest must specify at least one metadata_field" in err.details()
    request.metadata_field.append("other")
    assert (
        "Metadata field other is not supported"
        in _rpc_error(predict_stub.GetModelMetadata, request).details()
    )


def test_model_status(model_stub: Any) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "linear"
    response = model_stub.GetModelStatus(request, timeout=60)
    states = [s.state for s in response.model_version_status]
    assert get_model_status_pb2.ModelVersionStatus.AVAILABLE in states
    request.model_spec.name = "nope"
    err = _rpc_error(model_stub.GetModelStatus, request)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find any versions of model nope" in err.details()


def test_reload_config_same_models_and_unsupported_type(model_stub: Any, live_server: LiveServer) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    for name in ("linear", "ctr"):
        config = request.config.model_config_list.config.add()
        config.name = name
        config.base_path = f"/models/{name}"
        config.model_platform = "tensorflow"
    response = model_stub.HandleReloadConfigRequest(request, timeout=120)
    assert response.status.error_code == 0
    assert live_server.available_versions("ctr")
    bad = model_management_pb2.ReloadConfigRequest(config=model_server_config_pb2.ModelServerConfig())
    bad.config.custom_model_config.type_url = "x"
    err = _rpc_error(model_stub.HandleReloadConfigRequest, bad)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Only ModelConfigList is currently supported" in err.details()


@pytest.mark.parametrize("service", ["", "ModelService", "PredictionService"])
def test_health_service(channel: grpc.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_metrics_recorded(predict_stub: Any, live_server: LiveServer) -> None:
    predict_stub.Predict(_predict_request("linear", X), timeout=60)
    text = requests.get(f"{live_server.rest_url}/monitoring/prometheus/metrics", timeout=30).text
    assert 'API="Predict",entrypoint="GRPC"' in text or 'entrypoint="GRPC"' in text
