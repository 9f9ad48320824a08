"""Upstream cases of TF Serving 2.19.0 `util/json_tensor_test.cc`, as data, against the kit's pure codec.

One row per upstream case; a TEST with several sub-cases gives several rows (`<Test>/<n>`). Each row
runs the kit's counterpart of the upstream function with the tensor info the upstream test sets up:

| upstream                              | kit                                                          |
|---------------------------------------|--------------------------------------------------------------|
| FillPredictRequestFromJson            | serving.rest.codec.parse_request_body + predict_inputs       |
| FillClassification/RegressionRequest… | parse_request_body + serving.rest.examples.examples_from_request |
| MakeJsonFromTensors                   | serving.rest.codec.predict_response                          |
| MakeJsonFromClassification/Regression | serving.rest.examples.classify_response / regress_response   |
| MakeJsonFromStatus                    | serving.rest.jsonio.error_body                               |

Upstream asserts most errors with HasSubstr; these rows assert the whole message, as json_tensor.cc
builds it (rapidjson pretty-printed JSON quoted in it, `status.ToString()` nested in row-format errors).
Output is compared as parsed JSON with every number kept as its text, so float formatting is exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from serving.rest.codec import RequestFormat, parse_request_body, predict_inputs, predict_response
from serving.rest.examples import classify_response, examples_from_request, regress_response
from serving.rest.jsonio import error_body
from serving.status import Code, ServingError
from serving.types import SignatureInfo, TensorInfo

ROW, COLUMNAR = RequestFormat.ROW, RequestFormat.COLUMNAR
NAN, INF = float("nan"), float("inf")


def signature(infomap: dict[str, str], name: str = "") -> SignatureInfo:
    """The TensorInfo map an upstream test passes through `getmap(infomap)`."""
    inputs = {alias: TensorInfo(f"{alias}:0", dtype, None) for alias, dtype in infomap.items()}
    return SignatureInfo(name, "tensorflow/serving/predict", inputs, {})


def number_texts(text: str | bytes) -> Any:
    """Parsed JSON with numbers (and NaN/Infinity) kept as their text (CompareJsonAllValuesAsStrings)."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


# ---- FillPredictRequestFromJson ----------------------------------------------------------------------


@dataclass(frozen=True)
class Predict:
    """A request body with the upstream infomap, and either the tensors it must give or the error."""

    id: str
    infomap: dict[str, str]
    body: str
    fmt: RequestFormat | None = None
    tensors: dict[str, tuple[str, tuple[int, ...], list[Any]]] = field(default_factory=dict)
    error: str | None = None
    signature_name: str = ""


INT32 = {"default": "DT_INT32"}
FLOAT = {"default": "DT_FLOAT"}
STRING = {"default": "DT_STRING"}
INT_STR = {"int_tensor": "DT_INT32", "str_tensor": "DT_STRING"}


def _deep(n: int) -> str:
    return "[" * n + "]" * n


PREDICT_REQUESTS = [
    Predict(
        "SingleUnnamedTensor",
        INT32,
        '{"instances": [[1,2],[3,4],[5,6]]}',
        ROW,
        {"default": ("DT_INT32", (3, 2), [1, 2, 3, 4, 5, 6])},
    ),
    Predict(
        "DeeplyNestedWellFormed",
        INT32,
        '{"instances":[1], "nested":' + _deep(500000) + "}",
        ROW,
        {"default": ("DT_INT32", (1,), [1])},
    ),
    Predict(
        "DeeplyNestedMalformed",
        INT32,
        '{"signature_name":' + _deep(500000) + "}",
        # 24 bytes of prefix, then one '[' per event until the text holds 256 bytes.
        error='JSON Value: {\n    "signature_name": '
        + "[" * 232
        + " not formatted correctly. 'signature_name' key must be a string value.",
    ),
    Predict(
        "MixedInputForFloatTensor",
        FLOAT,
        '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}',
        ROW,
        {"default": ("DT_FLOAT", (7,), [1, 2.0, 3, 4, 5.003, 0.007, 0.0])},
    ),
    Predict(
        "MixedInputForDoubleTensor",
        {"default": "DT_DOUBLE"},
        '{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}',
        ROW,
        {"default": ("DT_DOUBLE", (7,), [1.0, 2, 3, 4, 0.662, 0, 0.0])},
    ),
    Predict(
        "FloatTensorWithPrecisionLoss/1",
        FLOAT,
        '{"instances": [1435774380]}',
        ROW,
        {"default": ("DT_FLOAT", (1,), [1435774380])},
    ),
    Predict(
        "FloatTensorWithPrecisionLoss/2",
        FLOAT,
        '{"instances": [1435774380.0]}',
        ROW,
        {"default": ("DT_FLOAT", (1,), [1435774380.0])},
    ),
    # absl::Substitute writes the double limits with six digits (`StrCat(double)`).
    Predict(
        "FloatTensorThatExceedsMaxReturnsInf/1",
        FLOAT,
        '{ "instances": [1.79769e+308] }',
        ROW,
        {"default": ("DT_FLOAT", (1,), [INF])},
    ),
    Predict(
        "FloatTensorThatExceedsMaxReturnsInf/2",
        FLOAT,
        '{ "instances": [-1.79769e+308] }',
        ROW,
        {"default": ("DT_FLOAT", (1,), [-INF])},
    ),
    Predict(
        "FloatTensorThatExceedsMinReturnsZero/1",
        FLOAT,
        '{ "instances": [2.22507e-308] }',
        ROW,
        {"default": ("DT_FLOAT", (1,), [0.0])},
    ),
    Predict(
        "FloatTensorThatExceedsMinReturnsZero/2",
        FLOAT,
        '{ "instances": [-2.22507e-308] }',
        ROW,
        {"default": ("DT_FLOAT", (1,), [-0.0])},
    ),
    Predict(
        "SingleUnnamedTensorWithSignature",
        INT32,
        '{"signature_name": "predict_images", "instances": [[1,2]]}',
        ROW,
        {"default": ("DT_INT32", (1, 2), [1, 2])},
        signature_name="predict_images",
    ),
    Predict(
        # The body ends before the upstream buffer's trailing 'X' (a non-null-terminated view).
        "TensorFromNonNullTerminatedBuffer",
        INT32,
        '{"instances": [[1,2],[3,4],[5,6]]}',
        ROW,
        {"default": ("DT_INT32", (3, 2), [1, 2, 3, 4, 5, 6])},
    ),
    Predict(
        "SingleUnnamedTensorBase64Scalars",
        STRING,
        '{"instances": [ { "b64" : "aGVsbG8=" }, { "b64": "d29ybGQ=" } ]}',
        ROW,
        {"default": ("DT_STRING", (2,), [b"hello", b"world"])},
    ),
    Predict(
        "SingleUnnamedTensorBase64Lists",
        STRING,
        '{"instances": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}',
        ROW,
        {"default": ("DT_STRING", (2, 1), [b"hello", b"world"])},
    ),
    Predict(
        "SingleNamedTensorBase64",
        STRING,
        '{"instances": [{"default": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}]}',
        ROW,
        {"default": ("DT_STRING", (1, 2, 1), [b"hello", b"world"])},
    ),
    Predict(
        "MultipleNamedTensor",
        {**INT_STR, "float_tensor": "DT_FLOAT", "dbl_tensor": "DT_DOUBLE"},
        """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
             "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
            {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
             "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}
        ]}""",
        ROW,
        {
            "int_tensor": ("DT_INT32", (2, 3, 2), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]),
            "str_tensor": ("DT_STRING", (2, 2), [b"foo", b"bar", b"baz", b"bat"]),
            "float_tensor": ("DT_FLOAT", (2, 2), [1.0, NAN, 2.0, INF]),
            "dbl_tensor": ("DT_DOUBLE", (2, 1), [NAN, 2.0]),
        },
    ),
    Predict(
        "SingleUnnamedTensorColumnarFormat/1",
        {"int_tensor": "DT_INT32"},
        '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}',
        COLUMNAR,
        {"int_tensor": ("DT_INT32", (1, 3, 2), [1, 2, 3, 4, 5, 6])},
    ),
    Predict(
        "SingleUnnamedTensorColumnarFormat/2",
        {"int_tensor": "DT_INT32"},
        '{"inputs": [[[1,2],[3,4],[5,6]]]}',
        COLUMNAR,
        {"int_tensor": ("DT_INT32", (1, 3, 2), [1, 2, 3, 4, 5, 6])},
    ),
    Predict(
        "MultipleNamedTensorColumnarFormat",
        {**INT_STR, "bin_tensor": "DT_STRING"},
        """{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
                       "bin_tensor": { "b64" : "aGVsbG8=" }}}""",
        COLUMNAR,
        {
            "int_tensor": ("DT_INT32", (1, 3, 2), [1, 2, 3, 4, 5, 6]),
            "str_tensor": ("DT_STRING", (2,), [b"foo", b"bar"]),
            "bin_tensor": ("DT_STRING", (), [b"hello"]),
        },
    ),
    Predict("SingleUnnamedTensorErrors/1", INT32, "", error="JSON Parse error: The document is empty"),
    Predict(
        "SingleUnnamedTensorErrors/2",
        INT32,
        '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
        error='JSON Value: {\n    "signature_name": 5,\n    "instances": [[1, 2], [3, 4], [5, 6, 7]]\n}'
        " not formatted correctly. 'signature_name' key must be a string value.",
    ),
    Predict(
        "SingleUnnamedTensorErrors/3",
        INT32,
        '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
        error='JSON Value: {\n    "instances": [[1, 2], [3, 4], [5, 6, 7]],\n'
        '    "inputs": [[1, 2], [3, 4], [5, 6, 7]]\n}'
        " Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ",
    ),
    Predict(
        "SingleUnnamedTensorErrors/4",
        INT32,
        '{"instances": [[1,2],[3,4],[5,6,7]]}',
        error="Failed to process element: 2 of 'instances' list. "
        "Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3",
    ),
    Predict(
        "SingleUnnamedTensorErrors/5",
        INT32,
        '{"instances": [[1,2],[3,4],[[5,6]]]}',
        error="Failed to process element: 2 of 'instances' list. "
        "Error: INVALID_ARGUMENT: Expecting shape [2] but got: [1,2]",
    ),
    Predict(
        "SingleUnnamedTensorErrors/6",
        INT32,
        '{"instances": [1, [1]]}',
        error="Failed to process element: 1 of 'instances' list. "
        "Error: INVALID_ARGUMENT: Expecting shape [] but got: [1]",
    ),
    Predict(
        "SingleUnnamedTensorErrors/7",
        INT32,
        '{"instances": [[1,2],["a", "b"]]}',
        error="Failed to process element: 1 of 'instances' list. "
        'Error: INVALID_ARGUMENT: JSON Value: "a" Type: String is not of expected type: int32',
    ),
    Predict(
        "MultipleNamedTensorErrors/1",
        INT_STR,
        """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
            {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}
        ]}""",
        error="Failed to process element: 1 key: int_tensor of 'instances' list. "
        "Error: INVALID_ARGUMENT: Expecting shape [3,2] but got: [1,3,2]",
    ),
    Predict(
        "MultipleNamedTensorErrors/2",
        INT_STR,
        """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
            {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}
        ]}""",
        error="Failed to process element: 1 key: int_tensor of 'instances' list. "
        "Error: INVALID_ARGUMENT: Expecting tensor size: 8 but got: 6",
    ),
    Predict(
        "MultipleNamedTensorErrors/3",
        INT_STR,
        """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
            [1, 20, 30],
            {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}
        ]}""",
        error="Expecting object but got list at item 1 of input list",
    ),
    Predict(
        "MultipleNamedTensorErrors/4",
        {"str_tensor": "DT_STRING"},
        '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}',
        error="Expecting value/list but got object at item 1 of input list",
    ),
]


def _expected_array(dtype: str, shape: tuple[int, ...], values: list[Any]) -> np.ndarray:
    numpy = {"DT_INT32": np.int32, "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64}.get(dtype, object)
    arr = np.empty(len(values), dtype=object) if numpy is object else np.array(values, dtype=numpy)
    if numpy is object:
        arr[:] = values
    return arr.reshape(shape)


@pytest.mark.parametrize("case", PREDICT_REQUESTS, ids=[c.id for c in PREDICT_REQUESTS])
def test_fill_predict_request_from_json(case: Predict) -> None:
    """json_tensor_test.cc JsontensorTest.<id>: FillPredictRequestFromJson."""
    sig = signature(case.infomap)
    if case.error is not None:
        with pytest.raises(ServingError) as info:
            request = parse_request_body(case.body.encode())
            predict_inputs(request, sig)
        assert info.value.code is Code.INVALID_ARGUMENT
        assert info.value.message == case.error
        return
    request = parse_request_body(case.body.encode())
    assert request.signature_name == case.signature_name
    tensors, fmt = predict_inputs(request, sig)
    assert fmt is case.fmt
    assert set(tensors) == set(case.tensors)
    for alias, (dtype, shape, values) in case.tensors.items():
        expected = _expected_array(dtype, shape, values)
        assert tensors[alias].dtype == expected.dtype, alias
        assert tensors[alias].shape == expected.shape, alias
        np.testing.assert_array_equal(tensors[alias], expected)
        if expected.dtype.kind == "f":  # -0 stays -0 (FloatTensorThatExceedsMinReturnsZero)
            assert np.signbit(tensors[alias]).tolist() == np.signbit(expected).tolist()


# ---- FillClassificationRequestFromJson / FillRegressionRequestFromJson --------------------------------

REQUEST_TYPES = ("ClassificationRequest", "RegressionRequest")

Feature = tuple[str, list[Any]]  # (kind, values): kind is bytes | float | int64


@dataclass(frozen=True)
class Examples:
    id: str
    body: str
    examples: list[dict[str, Feature]] = field(default_factory=list)
    context: dict[str, Feature] = field(default_factory=dict)
    error: str | None = None
    signature_name: str = ""


def _json_errors() -> list[Examples]:
    texts = [
        (
            '{"signature_name": [ "hello" ], "examples": [ { "names": [ "foo", "bar" ] } ]}',
            'JSON Value: {\n    "signature_name": ["hello"],\n    "examples": [{\n'
            '            "names": ["foo", "bar"]\n        }]\n}'
            " not formatted correctly. 'signature_name' key must be a string value.",
        ),
        ('{"context": [ { "names": [ "foo", "bar" ] } ]}', "Example must be JSON object but got JSON Array"),
        (
            '{"examples": { "names": [ "foo", "bar" ] }}',
            'JSON Value: {\n    "examples": {\n        "names": ["foo", "bar"]\n    }\n}'
            " Expecting 'examples' value to be an list/array",
        ),
        (
            '{"examples": [ [ { "names": [ "foo", "bar" ] } ] ]}',
            "Example must be JSON object but got JSON Array",
        ),
        (
            '{"examples": [ { "names": [ 10, null ] } ]}',
            "Feature: names has element with unexpected JSON type: Null",
        ),
        (
            '{"examples": [ { "names": [ 10, 10.0 ] } ]}',
            "Unexpected element type in feature: names expecting type: int64",
        ),
        (
            '{"examples": [ { "names": [ 10, { "test": 10 } ] } ]}',
            "Feature: names has element with unexpected JSON type: Object",
        ),
        (
            '{"examples": [ { "names": [ [10], 20 ] } ]}',
            "Feature: names has element with unexpected JSON type: Array",
        ),
        (
            '{"examples": [ { "names": [ 20, 18446744073709551603 ] } ]}',
            "Feature: names has uint64_t element. Only int64_t is supported.",
        ),
    ]
    return [Examples(f"JsonErrors/{i}", body, error=error) for i, (body, error) in enumerate(texts, 1)]


EXAMPLE_REQUESTS = [
    Examples(
        "RequestNoContext",
        """{"examples": [
            {"names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0 ], "age": 20},
            {"names": [ "baz" ], "ratings": 6.0}
        ]}""",
        [
            {"names": ("bytes", [b"foo", b"bar"]), "ratings": ("float", [8.0, 9.0]), "age": ("int64", [20])},
            {"names": ("bytes", [b"baz"]), "ratings": ("float", [6.0])},
        ],
    ),
    Examples(
        "RequestWithContextAndSignature",
        """{"signature_name": "custom_signture",
            "context": {"query": "pizza", "location": [ "sfo" ]},
            "examples": [
                {"names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0, NaN, Infinity ], "age": 20},
                {"names": [ "baz", { "b64": "aGVsbG8=" } ], "ratings": 6.0, "intboolmix": [ 1, true, false ]},
                {"names": "bar", "ratings": -Infinity}
            ]}""",
        [
            {
                "names": ("bytes", [b"foo", b"bar"]),
                "ratings": ("float", [8.0, 9.0, NAN, INF]),
                "age": ("int64", [20]),
            },
            {
                "names": ("bytes", [b"baz", b"hello"]),
                "ratings": ("float", [6.0]),
                "intboolmix": ("int64", [1, 1, 0]),
            },
            {"names": ("bytes", [b"bar"]), "ratings": ("float", [-INF])},
        ],
        context={"query": ("bytes", [b"pizza"]), "location": ("bytes", [b"sfo"])},
        signature_name="custom_signture",
    ),
    *_json_errors(),
]


def _features(serialized: bytes) -> dict[str, Feature]:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    out: dict[str, Feature] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[name] = ({"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}[kind], values)
    return out


def _same_feature(got: Feature, want: Feature) -> bool:
    if got[0] != want[0]:
        return False
    if want[0] != "float":
        return got[1] == want[1]
    expected = np.array(want[1], dtype=np.float32)
    return bool(np.array_equal(np.array(got[1], dtype=np.float32), expected, equal_nan=True))


@pytest.mark.parametrize("request_type", REQUEST_TYPES)
@pytest.mark.parametrize("case", EXAMPLE_REQUESTS, ids=[c.id for c in EXAMPLE_REQUESTS])
def test_fill_classify_regress_request_from_json(case: Examples, request_type: str) -> None:
    """json_tensor_test.cc ClassifyRegressRequestTest/<request_type>.<id> (one kit parser serves both).

    The kit sends each example serialized after the context (protobuf merge), which is how upstream
    flattens `example_list_with_context`; so each example is compared with the context merged in.
    """
    if case.error is not None:
        with pytest.raises(ServingError) as info:
            examples_from_request(parse_request_body(case.body.encode()))
        assert info.value.code is Code.INVALID_ARGUMENT
        assert info.value.message == case.error
        return
    request = parse_request_body(case.body.encode())
    assert request.signature_name == case.signature_name
    serialized = examples_from_request(request)
    assert len(serialized) == len(case.examples)
    for got_bytes, want_example in zip(serialized, case.examples, strict=True):
        want = {**case.context, **want_example}
        got = _features(got_bytes)
        assert set(got) == set(want)
        for name in want:
            assert _same_feature(got[name], want[name]), (name, got[name], want[name])


# ---- MakeJsonFromTensors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    id: str
    tensors: dict[str, np.ndarray]
    fmt: RequestFormat
    json: str | None = None  # expected document; numbers compared by their text
    error: str | None = None


def _i32(values: list[int], shape: tuple[int, ...]) -> np.ndarray:
    return np.array(values, dtype=np.int32).reshape(shape)


def _str(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr.reshape(shape)


INT_2x3x2 = _i32([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2], (2, 3, 2))
BYTES_2x2 = _str([b"hello", b"world", b"tf", b"serving"], (2, 2))
MULTIPLE = {
    "int_tensor": INT_2x3x2,
    "str_tensor": _str([b"foo", b"bar", b"baz", b"bat"], (2, 2)),
    "float_tensor": np.array([[1.0], [2.0]], dtype=np.float32),
    "double_scalar_tensor": np.array([8.0, 9.0], dtype=np.float64),
    "str_tensor_bytes": BYTES_2x2,
}

OUTPUTS = [
    Output(
        "FromJsonSingleTensor/1",
        {"int_tensor": INT_2x3x2},
        ROW,
        '{"predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}',
    ),
    Output(
        "FromJsonSingleTensor/2",
        {"int_tensor": INT_2x3x2},
        COLUMNAR,
        '{"outputs": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}',
    ),
    Output(
        "FromJsonSingleScalarTensor/1",
        {"int_tensor": _i32([1, 2, 3, 4, 5], (5,))},
        ROW,
        '{"predictions": [1, 2, 3, 4, 5]}',
    ),
    Output(
        "FromJsonSingleScalarTensor/2",
        {"int_tensor": _i32([1, 2, 3, 4, 5], (5,))},
        COLUMNAR,
        '{"outputs": [1, 2, 3, 4, 5]}',
    ),
    Output(
        "FromJsonSingleBytesTensor",
        {"str_tensor_bytes": BYTES_2x2},
        ROW,
        '{"predictions": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],'
        ' [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}',
    ),
    Output(
        "FromJsonSingleFloatTensorSixDigitPrecision",
        {"float_tensor": np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], dtype=np.float32)},
        ROW,
        '{"predictions": [[9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]]}',
    ),
    Output(
        "FromJsonSingleFloatTensorNonFinite",
        {"float_tensor": np.array([[NAN, INF], [3, -INF]], dtype=np.float32)},
        ROW,
        '{"predictions": [[NaN, Infinity], [3.0, -Infinity]]}',
    ),
    Output("FromJsonSingleTensorErrors/1", {}, ROW, error="Cannot convert empty tensor map to JSON"),
    Output(
        "FromJsonSingleTensorErrors/2",
        {"tensor": np.array([1.0, 2.0], dtype=np.complex64)},
        ROW,
        error="Failed to write JSON value for tensor type: complex64",
    ),
    Output(
        "FromJsonSingleTensorErrors/3",
        {"tensor": np.array(1, dtype=np.int32)},
        ROW,
        error="Tensor name: tensor has no shape information ",
    ),
    Output(
        "FromJsonMultipleNamedTensors/1",
        MULTIPLE,
        ROW,
        """{"predictions": [
            {"double_scalar_tensor": 8.0, "float_tensor": [1.0], "int_tensor": [[1, 2], [3, 4], [5, 6]],
             "str_tensor": ["foo", "bar"], "str_tensor_bytes": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]},
            {"double_scalar_tensor": 9.0, "float_tensor": [2.0], "int_tensor": [[7, 8], [9, 0], [1, 2]],
             "str_tensor": ["baz", "bat"], "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]}
        ]}""",
    ),
    Output(
        "FromJsonMultipleNamedTensors/2",
        MULTIPLE,
        COLUMNAR,
        """{"outputs": {
            "double_scalar_tensor": [8.0, 9.0], "float_tensor": [[1.0], [2.0]],
            "int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]],
            "str_tensor": [["foo", "bar"], ["baz", "bat"]],
            "str_tensor_bytes": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                                 [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]
        }}""",
    ),
    Output(
        # Upstream's map order is unspecified (HasSubstr); the kit reports the later tensor.
        "FromJsonMultipleNamedTensorsErrors",
        {
            "int_tensor": _i32([1, 2, 3, 4, 5, 6], (2, 3)),
            "str_tensor": _str([b"foo", b"bar", b"baz"], (1, 3)),
        },
        ROW,
        error="Tensor name: str_tensor has inconsistent batch size: 1 expecting: 2",
    ),
    Output("FromJsonSingleZeroBatchTensor", {"int_tensor": _i32([], (0, 2))}, ROW, '{"predictions": []}'),
    Output(
        "FromJsonMultipleZeroBatchTensors",
        {"str_tensor": _str([], (0, 1, 2)), "float_tensor": np.zeros((0, 3, 4), dtype=np.float32)},
        ROW,
        '{"predictions": []}',
    ),
    Output(
        "FromJsonMultipleZeroBatchTensorsErrors",
        {"int_tensor": _i32([], (0, 2)), "str_tensor": _str([b"foo", b"bar"], (1, 2))},
        ROW,
        error="Tensor name: str_tensor has inconsistent batch size: 1 expecting: 0",
    ),
]


@pytest.mark.parametrize("case", OUTPUTS, ids=[c.id for c in OUTPUTS])
def test_make_json_from_tensors(case: Output) -> None:
    """json_tensor_test.cc JsontensorTest.<id>: MakeJsonFromTensors."""
    if case.error is not None:
        with pytest.raises(ServingError) as info:
            predict_response(case.tensors, case.fmt)
        assert info.value.code is Code.INVALID_ARGUMENT
        assert info.value.message == case.error
        return
    assert case.json is not None
    assert number_texts(predict_response(case.tensors, case.fmt)) == number_texts(case.json)


# ---- MakeJsonFromClassificationResult / MakeJsonFromRegressionResult / MakeJsonFromStatus ---------------


def test_json_from_classification_result() -> None:
    """json_tensor_test.cc ClassifyRegressnResultTest.JsonFromClassificationResult."""
    result = [
        [(b"car", 0.2), (b"bike", 0.7), (b"bus", 0.1)],
        [(b"car", 0.7), (b"bike", 0.1), (b"bus", 0.2)],
    ]
    rows = '[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]'
    expected = '{"results": [' + rows + "]}"
    assert number_texts(classify_response(result)) == number_texts(expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0.2, 0.9, 1.0], '{"results": [0.2, 0.9, 1.0]}', id="JsonFromRegressionResult"),
        pytest.param(
            [0.2, INF, 1.0, -INF, NAN],
            '{"results": [0.2, Infinity, 1.0, -Infinity, NaN]}',
            id="JsonFromRegressionResultWithNonFinite",
        ),
    ],
)
def test_json_from_regression_result(values: list[float], expected: str) -> None:
    """json_tensor_test.cc ClassifyRegressnResultTest.<id>: regression values are floats, `1.0` not `1`."""
    assert number_texts(regress_response(values)) == number_texts(expected)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: classify_response([]),
            "Cannot convert empty ClassificationResults to JSON",
            id="JsonFromResultErrors/1",
        ),
        pytest.param(
            lambda: regress_response([]),
            "Cannot convert empty RegressionResults to JSON",
            id="JsonFromResultErrors/2",
        ),
    ],
)
def test_json_from_result_errors(make: Any, message: str) -> None:
    """json_tensor_test.cc ClassifyRegressnResultTest.JsonFromResultErrors."""
    with pytest.raises(ServingError) as info:
        make()
    assert info.value.code is Code.INVALID_ARGUMENT
    assert info.value.message == message


@pytest.mark.parametrize(
    "message",
    [pytest.param('Bad key: "key"', id="StatusError/1"), pytest.param("Bad key: 'key'", id="StatusError/2")],
)
def test_make_json_from_status(message: str) -> None:
    """json_tensor_test.cc MakeJsonFromTensors.StatusError: `{"error": "<message>"}`."""
    assert json.loads(error_body(message)) == {"error": message}
