"""Impossible TensorProtos over gRPC: INVALID_ARGUMENT "tensor parsing error: <alias>", as upstream.

Upstream: TF Serving's servables/tensorflow/predict_util.cc `PreProcessPrediction` ->
tensorflow/cc/saved_model/util.cc `GetInputValues`, which answers `tensor parsing error: <alias>` whenever
tensor.cc `Tensor::FromProto` fails (invalid shape, size mismatch, allocation failure); FromProtoField
cuts extra typed values. The requests are built with the TF-free client's messages and sent on a raw channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from clients.protos import PREDICTION_SERVICE, messages
from tests.support.server import LiveServer

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def predict(live_server: LiveServer) -> Iterator[Any]:
    m = messages()
    with grpc.insecure_channel(live_server.grpc_target) as channel:
        yield channel.unary_unary(
            PREDICTION_SERVICE + "Predict",
            request_serializer=m.PredictRequest.SerializeToString,
            response_deserializer=m.PredictResponse.FromString,
        )


def _request(shape: list[int], dtype: int = 1, **fields: Any) -> Any:
    request = messages().PredictRequest()
    request.model_spec.name = "linear"
    tensor = request.inputs["x"]
    tensor.dtype = dtype
    for d in shape:
        tensor.tensor_shape.dim.add(size=d)
    for name, value in fields.items():
        if isinstance(value, bytes):
            setattr(tensor, name, value)
        else:
            getattr(tensor, name).extend(value)
    return request


@pytest.mark.parametrize(
    ("shape", "dtype", "fields"),
    [
        ([2**40], 1, {"float_val": [1.0]}),
        ([2**40, 1], 1, {"float_val": [1.0]}),
        ([2**32, 2**32], 1, {"float_val": [1.0]}),
        ([-1, 1], 1, {"float_val": [1.0]}),
        ([2, 1], 1, {"tensor_content": b"abc"}),
        ([1] * 255, 1, {"float_val": [1.0]}),
        ([1, 1], 0, {"float_val": [1.0]}),
        ([1, 1], 99, {"float_val": [1.0]}),
    ],
    ids=[
        "2**40-one-float",
        "2**40x1",
        "elements-overflow",
        "negative-dim",
        "content-length",
        "rank-255",
        "dt-invalid",
        "dt-unknown",
    ],
)
def test_impossible_tensor_is_a_parse_error(predict: Any, shape: list[int], dtype: int, fields: Any) -> None:
    with pytest.raises(grpc.RpcError) as info:
        predict(_request(shape, dtype, **fields), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "tensor parsing error: x"


def test_extra_typed_values_are_cut(predict: Any) -> None:
    response = predict(_request([1, 1], float_val=[2.0, 99.0, 99.0]), timeout=60)
    y = response.outputs["y"]
    assert [d.size for d in y.tensor_shape.dim] == [1, 1]
    assert list(y.float_val) == pytest.approx([0.8 * 2.0 + 0.7], abs=0.05)
