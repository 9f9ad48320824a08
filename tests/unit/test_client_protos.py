"""clients.protos: the committed descriptor set matches the installed serving-api protos, and its private
pool's classes are wire-identical to tensorflow_serving.apis' while living beside them in one process."""

from __future__ import annotations

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2

from clients.protos import generate, messages
from serving.grpc.codec import fill_tensor_proto, numpy_from_tensor_proto


def test_committed_descriptor_set_is_current_and_small() -> None:
    data = generate.OUTPUT.read_bytes()
    assert data == generate.descriptor_set(), "stale: run python -m clients.protos.generate"
    assert len(data) < 100 * 1024


def test_private_pool_coexists_with_tensorflow_serving_apis() -> None:
    ours = messages().PredictRequest
    assert ours is not predict_pb2.PredictRequest
    assert ours.DESCRIPTOR.full_name == predict_pb2.PredictRequest.DESCRIPTOR.full_name
    assert ours.DESCRIPTOR.file.pool is not predict_pb2.DESCRIPTOR.pool


def test_requests_cross_between_the_two_families() -> None:
    request = messages().PredictRequest(output_filter=["y"])
    request.model_spec.name = "linear"
    request.model_spec.version.value = 3
    fill_tensor_proto(request.inputs["x"], np.array([[1.0], [2.0]], dtype=np.float32))
    theirs = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert theirs.model_spec.version.value == 3 and list(theirs.output_filter) == ["y"]
    np.testing.assert_array_equal(numpy_from_tensor_proto(theirs.inputs["x"]), [[1.0], [2.0]])
    back = messages().PredictRequest.FromString(theirs.SerializeToString())
    assert back == request


def test_examples_and_signature_maps_cross() -> None:
    example = messages().Example()
    example.features.feature["x"].float_list.value.append(1.5)
    assert (
        example_pb2.Example.FromString(example.SerializeToString()).features.feature["x"].float_list.value[0]
        == 1.5
    )
    defs = get_model_metadata_pb2.SignatureDefMap()
    defs.signature_def["serving_default"].method_name = "tensorflow/serving/predict"
    ours = messages().SignatureDefMap.FromString(defs.SerializeToString())
    assert ours.signature_def["serving_default"].method_name == "tensorflow/serving/predict"
