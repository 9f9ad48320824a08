"""TF Serving REST classify / regress: JSON examples -> serialized tf.train.Example, results -> JSON.

Follows `json_tensor.cc` (contract §1.6): a JSON string or `{"b64": ...}` becomes a bytes_list, a number
with a `.` or exponent a float_list, an integer literal an int64_list, true/false int64 1/0; one feature
never mixes kinds. With `context`, each example is serialized after the context's bytes, so protobuf
merge semantics apply exactly as upstream's `example_list_with_context` flattening does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

from serving.rest.codec import JsonRequest, format_error
from serving.rest.jsonio import document, encode_body, float_texts, json_type_name, string_text
from serving.rest.tensors import decode_b64_object
from serving.status import InvalidArgument

_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


class _FeatureBuilder:
    """Values of one feature; the first value fixes its kind (bytes, float or int64)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind: str | None = None
        self.values: list[Any] = []

    def _want(self, kind: str) -> None:
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise InvalidArgument(
                f"Unexpected element type in feature: {self.name} expecting type: {self.kind}"
            )

    def _unexpected(self, value: Any) -> InvalidArgument:
        return InvalidArgument(
            f"Feature: {self.name} has element with unexpected JSON type: {json_type_name(value)}"
        )

    def add(self, value: Any) -> None:
        if value is None or type(value) is list:
            raise self._unexpected(value)
        if type(value) is bool:
            self._want("int64")
            self.values.append(1 if value else 0)
        elif type(value) is dict:
            if set(value) != {"b64"} or type(value["b64"]) is not str:
                raise self._unexpected(value)
            self._want("bytes")
            self.values.append(decode_b64_object(value))
        elif type(value) is str:
            self._want("bytes")
            self.values.append(value.encode("utf-8", "surrogatepass"))
        elif type(value) is int and _INT64_MIN <= value <= _UINT64_MAX:
            self._want("int64")
            if value > _INT64_MAX:
                raise InvalidArgument(
                    f"Feature: {self.name} has uint64_t element. Only int64_t is supported."
                )
            self.values.append(value)
        else:  # a decimal literal, NaN/Infinity, or an integer too large for 64 bits (a double upstream)
            self._want("float")
            self.values.append(_as_float(value))

    def build(self) -> feature_pb2.Feature:
        feature = feature_pb2.Feature()
        if self.kind == "bytes":
            feature.bytes_list.value.extend(self.values)
        elif self.kind == "int64":
            feature.int64_list.value.extend(self.values)
        elif self.kind == "float":
            feature.float_list.value.extend(self.values)
        return feature


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def example_from_json(value: Any) -> example_pb2.Example:
    """One JSON object -> tf.train.Example (MakeExampleFromJsonObject)."""
    if type(value) is not dict:
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type_name(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        builder = _FeatureBuilder(name)
        for item in content if type(content) is list else [content]:
            builder.add(item)
        example.features.feature[name].CopyFrom(builder.build())
    return example


def examples_from_request(request: JsonRequest) -> list[bytes]:
    """Serialized examples of a classify / regress request (context merged into each example)."""
    doc = request.doc
    context = example_from_json(doc["context"]).SerializeToString() if "context" in doc else b""
    if "examples" not in doc:
        raise format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if type(examples) is not list:
        raise format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error(doc, "'examples' value is an empty array")
    return [context + example_from_json(e).SerializeToString() for e in examples]


def _scores(values: list[float]) -> list[str]:
    return float_texts(np.asarray(values, dtype=np.float32))


def classify_response(classifications: list[list[tuple[bytes, float]]]) -> bytes:
    """`{"results": [[["<label>", <score>], ...], ...]}`, one inner list per example (PrettyWriter layout)."""
    if not classifications:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    scores = iter(_scores([score for classes in classifications for _, score in classes]))
    rows = [
        "[" + ", ".join("[" + string_text(label) + ", " + next(scores) + "]" for label, _ in classes) + "]"
        for classes in classifications
    ]
    return encode_body(document("results", "[" + ", ".join(rows) + "\n    ]"))


def regress_response(values: list[float]) -> bytes:
    """`{"results": [<float>, ...]}`, one value per example (PrettyWriter layout)."""
    if not values:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return encode_body(document("results", "[" + ", ".join(_scores(values)) + "]"))
