"""serving.rest examples / documents: classify-regress JSON, status and metadata JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.rest.codec import parse_request_body
from serving.rest.documents import metadata_response, status_response
from serving.rest.examples import classify_response, examples_from_request, regress_response
from serving.status import Code, InvalidArgument
from serving.types import ModelMetadata, ResolvedSpec, State, VersionStatus


def _examples(body: Any) -> list[example_pb2.Example]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [example_pb2.Example.FromString(b) for b in examples_from_request(parse_request_body(raw))]


def _feature(example: example_pb2.Example, name: str) -> Any:
    return example.features.feature[name]


def test_json_kinds_become_feature_lists() -> None:
    (ex,) = _examples(
        {
            "examples": [
                {
                    "f": 2.0,
                    "i": 80,
                    "s": "abc",
                    "b": {"b64": "AP8="},
                    "t": [True, False],
                    "e": 1e3,
                    "l": [1, 2],
                }
            ]
        }
    )
    assert list(_feature(ex, "f").float_list.value) == [2.0]
    assert list(_feature(ex, "i").int64_list.value) == [80]
    assert list(_feature(ex, "s").bytes_list.value) == [b"abc"]
    assert list(_feature(ex, "b").bytes_list.value) == [b"\x00\xff"]
    assert list(_feature(ex, "t").int64_list.value) == [1, 0]
    assert list(_feature(ex, "e").float_list.value) == [1000.0]
    assert list(_feature(ex, "l").int64_list.value) == [1, 2]


def test_non_finite_tokens_are_floats() -> None:
    (ex,) = _examples(b'{"examples": [{"x": [NaN, -Infinity]}]}')
    values = list(_feature(ex, "x").float_list.value)
    assert values[0] != values[0] and values[1] == float("-inf")


def test_context_is_merged_into_every_example() -> None:
    exs = _examples({"context": {"c": "ctx", "x": 1.0}, "examples": [{"x": 2.0}, {"y": 3}]})
    assert len(exs) == 2
    assert list(_feature(exs[0], "c").bytes_list.value) == [b"ctx"]
    assert list(_feature(exs[0], "x").float_list.value) == [2.0]  # the example's own value wins
    assert list(_feature(exs[1], "x").float_list.value) == [1.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": []}, "When method is classify, key 'examples' is expected and was not found"),
        ({"examples": {}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [[1]]}, "Example must be JSON object but got JSON Array"),
        ({"examples": [{"x": [1, 2.5]}]}, "Unexpected element type in feature: x expecting type: int64"),
        ({"examples": [{"x": ["a", 1]}]}, "Unexpected element type in feature: x expecting type: bytes"),
        ({"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
        ({"examples": [{"x": [[1]]}]}, "Feature: x has element with unexpected JSON type: Array"),
        ({"examples": [{"x": {"a": 1}}]}, "Feature: x has element with unexpected JSON type: Object"),
        ({"examples": [{"x": 2**63}]}, "Feature: x has uint64_t element. Only int64_t is supported."),
        ({"context": 5, "examples": [{}]}, "Example must be JSON object but got JSON Number"),
    ],
)
def test_example_errors(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        _examples(body)
    assert message in info.value.message


def test_classify_and_regress_results() -> None:
    raw = classify_response([[(b"0", 0.25), (b"1", 0.75)], [(b"", 3.0)]])
    assert json.loads(raw) == {"results": [[["0", 0.25], ["1", 0.75]], [["", 3.0]]]}
    assert json.loads(regress_response([3.0, 0.5])) == {"results": [3.0, 0.5]}
    assert b"3.0" in regress_response([3.0])
    with pytest.raises(InvalidArgument):
        regress_response([])


def test_status_document() -> None:
    raw = status_response(
        [VersionStatus(2, State.AVAILABLE), VersionStatus(1, State.END, Code.NOT_FOUND, "gone")]
    )
    assert json.loads(raw) == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END", "status": {"error_code": "NOT_FOUND", "error_message": "gone"}},
        ]
    }


def test_metadata_document() -> None:
    sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = types_pb2.DT_FLOAT
    sig.inputs["x"].tensor_shape.dim.add(size=-1)
    sig.inputs["x"].tensor_shape.dim.add(size=1)
    defs = get_model_metadata_pb2.SignatureDefMap()
    defs.signature_def["serving_default"].CopyFrom(sig)
    doc = json.loads(metadata_response(ModelMetadata(ResolvedSpec("m", 123, ""), defs.SerializeToString())))
    assert doc["model_spec"] == {"name": "m", "signature_name": "", "version": "123"}
    x = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert x["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
        "unknown_rank": False,
    }
    assert doc["metadata"]["signature_def"]["signature_def"]["serving_default"]["defaults"] == {}
