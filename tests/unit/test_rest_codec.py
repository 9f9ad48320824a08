"""serving.rest.codec: predict JSON (row / columnar) <-> numpy with the upstream checks and texts."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from serving.dtypes import for_enum_name as dtype_for
from serving.rest.codec import RequestFormat, parse_request_body, predict_inputs, predict_response
from serving.rest.tensors import absl_base64_unescape, fast_tensor_from_json, tensor_from_json
from serving.status import Code, InvalidArgument, ServingError
from serving.types import SignatureInfo, TensorInfo


def _sig(**inputs: str) -> SignatureInfo:
    return SignatureInfo(
        "serving_default",
        "tensorflow/serving/predict",
        {alias: TensorInfo(f"{alias}:0", dtype, None) for alias, dtype in inputs.items()},
        {},
    )


LINEAR = _sig(x="DT_FLOAT")
CTR = _sig(feature="DT_FLOAT", user_id="DT_INT64", article_id="DT_INT64")


def _inputs(body: Any, sig: SignatureInfo = LINEAR) -> tuple[dict[str, np.ndarray], RequestFormat]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return predict_inputs(parse_request_body(raw), sig)


def _error(body: Any, sig: SignatureInfo = LINEAR) -> ServingError:
    with pytest.raises(ServingError) as info:
        _inputs(body, sig)
    return info.value


def _loads(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8", "surrogateescape"))


# ---- request: row format ------------------------------------------------------------------------------


def test_row_single_input() -> None:
    tensors, fmt = _inputs({"instances": [[1.0], [2], [5.5]]})
    assert fmt is RequestFormat.ROW
    assert tensors["x"].dtype == np.float32 and tensors["x"].shape == (3, 1)
    np.testing.assert_array_equal(tensors["x"].ravel(), [1.0, 2.0, 5.5])


def test_row_named_objects_for_one_input() -> None:
    tensors, _ = _inputs({"instances": [{"x": [1.0]}, {"x": [2.0]}]})
    assert tensors["x"].shape == (2, 1)


def test_row_multiple_inputs_with_dtypes_from_signature() -> None:
    rows = [
        {"feature": [0.5, 1.5], "user_id": 3, "article_id": 2**40},
        {"feature": [1, 2], "user_id": 4, "article_id": 0},
    ]
    tensors, _ = _inputs({"instances": rows}, CTR)
    assert tensors["feature"].dtype == np.float32 and tensors["feature"].shape == (2, 2)
    assert tensors["user_id"].dtype == np.int64 and tensors["user_id"].tolist() == [3, 4]
    assert tensors["article_id"].tolist() == [2**40, 0]


def test_non_finite_tokens_in_request() -> None:
    tensors, _ = _inputs(b'{"instances": [[NaN], [Infinity], [-Inf]]}')
    x = tensors["x"].ravel()
    assert math.isnan(x[0]) and x[1] == np.inf and x[2] == -np.inf


def test_float_overflow_becomes_infinity() -> None:
    tensors, _ = _inputs({"instances": [[1e39], [-1e39], [1e-50]]})
    assert tensors["x"].ravel().tolist() == [np.inf, -np.inf, 0.0]


@pytest.mark.parametrize(
    ("body", "sig", "message"),
    [
        ({"instances": 5}, LINEAR, "Expecting 'instances' to be an list/array"),
        ({"instances": []}, LINEAR, "No values in 'instances' array"),
        (
            {"instances": [1], "inputs": [1]},
            LINEAR,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        ),
        ({"foo": 1}, LINEAR, "Missing 'inputs' or 'instances' key"),
        (
            {"instances": [[1.0], [1.0, 2.0]]},
            LINEAR,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 1 but got: 2",
        ),
        ({"instances": [[[1.0, 2.0]], [[1.0], [2.0]]]}, LINEAR, "Expecting shape [1,2] but got: [2,1]"),
        ({"instances": [["a"]]}, LINEAR, 'JSON Value: "a" Type: String is not of expected type: float'),
        ({"instances": [[True]]}, LINEAR, "JSON Value: true Type: True is not of expected type: float"),
        ({"instances": [[None]]}, LINEAR, "Type: Null is not of expected type: float"),
        ({"instances": [[{"b64": "aGk="}]]}, LINEAR, "Type: Object is not of expected type: float"),
        ({"instances": [[1], 2]}, LINEAR, "Failed to process element: 1"),
        ({"instances": [[1, [2]]]}, LINEAR, "Encountered list at unexpected level: 1 expected < 1"),
        (
            {"instances": [[[1], 2]]},
            LINEAR,
            "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        (
            {"instances": [[[1, 2], [3]]]},
            LINEAR,
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            {"instances": [[1.0]]},
            CTR,
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map",
        ),
        (
            {"instances": [{"feature": [1.0], "user_id": 1}]},
            CTR,
            "Failed to process element: 0 of 'instances' list. JSON object: ",
        ),
        (
            {"instances": [{"feature": [1.0], "user_id": 1}]},
            CTR,
            "keys must be equal to: article_id,feature,user_id",
        ),
        (
            {"instances": [{"feature": [1.0], "user_id": 1, "article_id": 1, "zzz": 1}]},
            CTR,
            "Failed to process element: 0 key: zzz of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON object: does not have named input: zzz",
        ),
        (
            {"instances": [{"feature": [1.0], "user_id": 1.5, "article_id": 1}]},
            CTR,
            "JSON Value: 1.5 Type: Number is not of expected type: int64",
        ),
        (
            {"instances": [{"feature": [1.0], "user_id": 1, "article_id": 1}, [1.0]]},
            CTR,
            "Expecting object but got list at item 1 of input list",
        ),
    ],
)
def test_row_errors(body: Any, sig: SignatureInfo, message: str) -> None:
    err = _error(body, sig)
    assert err.code is Code.INVALID_ARGUMENT
    assert message in err.message


def test_row_value_after_object_rows() -> None:
    err = _error({"instances": [[1.0], {"x": [1.0]}]})
    assert "Expecting value/list but got object at item 1 of input list" in err.message


# ---- request: columnar format -------------------------------------------------------------------------


def test_columnar_single_tensor_and_scalar() -> None:
    tensors, fmt = _inputs({"inputs": [[1.0], [2.0]]})
    assert fmt is RequestFormat.COLUMNAR and tensors["x"].shape == (2, 1)
    tensors, _ = _inputs({"inputs": 7})
    assert tensors["x"].shape == () and float(tensors["x"]) == 7.0


def test_columnar_named_with_different_batch_sizes_and_extra_keys_ignored() -> None:
    body = {"inputs": {"feature": [[0.0] * 3], "user_id": [1, 2], "article_id": [5, 6, 7], "extra": "x"}}
    tensors, _ = _inputs(body, CTR)
    assert set(tensors) == {"feature", "user_id", "article_id"}
    assert tensors["article_id"].shape == (3,)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"inputs": [1.0]},
            "inputs is a plain value/list, but expecting an object as multiple input tensors",
        ),
        (
            {"inputs": {"feature": [[1.0]], "user_id": [1]}},
            "Missing named input: article_id in 'inputs' object.",
        ),
        (
            {"inputs": {"feature": [[1.0]], "user_id": [1], "article_id": [1.0]}},
            "is not of expected type: int64",
        ),
    ],
)
def test_columnar_errors(body: Any, message: str) -> None:
    assert message in _error(body, CTR).message


def test_signature_name_must_be_string() -> None:
    err = _error({"signature_name": 5, "instances": [1]})
    assert "not formatted correctly. 'signature_name' key must be a string value." in err.message


def test_top_level_must_be_object() -> None:
    assert "Is not object" in _error([1, 2]).message


def test_signature_name_is_read() -> None:
    assert parse_request_body(b'{"signature_name": "regression", "inputs": 1}').signature_name == "regression"


# ---- dtype table ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "good", "expected"),
    [
        ("DT_INT32", [1, -2], np.array([1, -2], np.int32)),
        ("DT_INT8", [1, 300], np.array([1, 300], np.int64).astype(np.int8)),
        ("DT_UINT8", [255], np.array([255], np.uint8)),
        ("DT_INT64", [2**63 - 1], np.array([2**63 - 1], np.int64)),
        ("DT_UINT32", [2**32 - 1], np.array([2**32 - 1], np.uint32)),
        ("DT_UINT64", [2**64 - 1], np.array([2**64 - 1], np.uint64)),
        ("DT_BOOL", [True, False], np.array([True, False])),
        ("DT_DOUBLE", [0.1, 2], np.array([0.1, 2.0])),
    ],
)
def test_dtype_conversion(dtype: str, good: list[Any], expected: np.ndarray) -> None:
    out = tensor_from_json(good, dtype_for(dtype))
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("dtype", "bad", "type_name"),
    [
        ("DT_INT32", 1.0, "int32"),
        ("DT_INT32", 2**31, "int32"),
        ("DT_INT64", 2**63, "int64"),
        ("DT_UINT32", -1, "uint32"),
        ("DT_BOOL", 1, "bool"),
        ("DT_STRING", 5, "string"),
        ("DT_FLOAT", "1.0", "float"),
    ],
)
def test_dtype_mismatch(dtype: str, bad: Any, type_name: str) -> None:
    with pytest.raises(InvalidArgument, match=f"is not of expected type: {type_name}$"):
        tensor_from_json([bad], dtype_for(dtype))


def test_unsupported_input_dtype_is_unimplemented() -> None:
    err = _error({"inputs": [1.0]}, _sig(h="DT_HALF"))
    assert err.code is Code.UNIMPLEMENTED
    assert "Conversion of JSON Value: 1.0 to type: half" in err.message


def test_strings_and_b64() -> None:
    out = tensor_from_json(["héllo", {"b64": "AP8="}, {"b64": "aGk"}], dtype_for("DT_STRING"))
    assert out.tolist() == ["héllo".encode(), b"\x00\xff", b"hi"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"b64": "a-_b"}, "Unable to base64 decode"),
        ({"b64": "aGk=", "x": 1}, "not formatted correctly for base64 data"),
        ({"b64": 5}, "not formatted correctly for base64 data"),
    ],
)
def test_b64_errors(value: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        tensor_from_json([value], dtype_for("DT_STRING"))


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("aGVsbG8=", b"hello"),
        ("aGVsbG8", b"hello"),  # padding is optional
        ("aGVs\nbG8=\n", b"hello"),  # line-wrapped (MIME) base64: whitespace anywhere is skipped
        (" aGVs bG8 = ", b"hello"),
        ("aGVsbG8.", b"hello"),  # '.' pads like '='
        ("aGVsbA==", b"hell"),
        ("", b""),
        ("aGVsbG8==", None),  # too much padding
        ("aGVsbA=", None),  # too little padding
        ("a", None),  # a lone sixth of a byte
        ("aGk=aGk=", None),  # data after padding
        ("a-_b", None),  # web-safe alphabet is not accepted
    ],
)
def test_b64_follows_absl_base64_unescape(text: str, decoded: bytes | None) -> None:
    assert absl_base64_unescape(text) == decoded


def test_tensor_values_deeper_than_numpy_allows_are_a_clean_error() -> None:
    deep: Any = 1.0
    for _ in range(65):
        deep = [deep]
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        tensor_from_json(deep, dtype_for("DT_FLOAT"))
    assert tensor_from_json(deep[0], dtype_for("DT_FLOAT")).ndim == 64


# ---- fast path agrees with the reference ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ([[1.0, 2], [3, 4.5]], "DT_FLOAT"),
        ([[1, 2], [3, 4]], "DT_INT64"),
        ([1, 2, 3], "DT_INT32"),
        ([[True], [False]], "DT_BOOL"),
        ([1e39, -5], "DT_FLOAT"),
        (5, "DT_DOUBLE"),
        ([], "DT_FLOAT"),
        (np.random.default_rng(0).standard_normal((64, 121)).tolist(), "DT_FLOAT"),
    ],
)
def test_fast_path_equals_reference(value: Any, dtype: str) -> None:
    dt = dtype_for(dtype)
    fast = fast_tensor_from_json(value, dt, numbers_only=dtype != "DT_BOOL")
    reference = tensor_from_json(value, dt)
    if fast is not None:
        assert fast.dtype == reference.dtype and fast.shape == reference.shape
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ([1, True], "DT_FLOAT"),
        ([1.0, 2], "DT_INT32"),
        ([2**40], "DT_INT32"),
        ([[1], [1, 2]], "DT_FLOAT"),
        (["a"], "DT_FLOAT"),
        ([None], "DT_FLOAT"),
        ([1], "DT_BOOL"),
    ],
)
def test_fast_path_declines_what_the_reference_rejects(value: Any, dtype: str) -> None:
    assert fast_tensor_from_json(value, dtype_for(dtype), numbers_only=False) is None


# ---- response -----------------------------------------------------------------------------------------


def test_row_response_single_output() -> None:
    raw = predict_response({"y": np.array([[2.5], [3.0], [4.5]], np.float32)}, RequestFormat.ROW)
    assert _loads(raw) == {"predictions": [[2.5], [3.0], [4.5]]}
    assert b"3.0" in raw


def test_row_response_multiple_outputs() -> None:
    outputs = {
        "scores": np.array([[0.25, 0.75]], np.float32),
        "classes": np.array([[b"0", b"1"]], dtype=object),
    }
    assert _loads(predict_response(outputs, RequestFormat.ROW)) == {
        "predictions": [{"scores": [0.25, 0.75], "classes": ["0", "1"]}]
    }


def test_columnar_response() -> None:
    outputs = {"a": np.array(5, np.int64), "b": np.array([[True, False]])}
    assert _loads(predict_response(outputs, RequestFormat.COLUMNAR)) == {
        "outputs": {"a": 5, "b": [[True, False]]}
    }
    single = predict_response({"y": np.zeros((2, 0), np.float32)}, RequestFormat.COLUMNAR)
    assert _loads(single) == {"outputs": [[], []]}


def test_zero_batch_row_response() -> None:
    assert _loads(predict_response({"y": np.zeros((0, 1), np.float32)}, RequestFormat.ROW)) == {
        "predictions": []
    }


def test_non_finite_and_formatting_in_response() -> None:
    raw = predict_response(
        {"y": np.array([np.nan, np.inf, -np.inf, 9e6, 3e-5], np.float32)}, RequestFormat.ROW
    )
    assert raw == b'{\n    "predictions": [NaN, Infinity, -Infinity, 9e+06, 3e-05\n    ]\n}'


def test_bytes_suffix_outputs_are_base64() -> None:
    outputs = {
        "img_bytes": np.array([b"\x00\xff"], dtype=object),
        "name": np.array([b"caf\xc3\xa9"], dtype=object),
    }
    assert _loads(predict_response(outputs, RequestFormat.ROW)) == {
        "predictions": [{"img_bytes": {"b64": "AP8="}, "name": "café"}]
    }


def test_int_types_are_exact() -> None:
    raw = predict_response({"i": np.array([2**62, -1], np.int64)}, RequestFormat.COLUMNAR)
    assert raw == b'{\n    "outputs": [\n        4611686018427387904,\n        -1\n    ]\n}'


def test_responses_are_laid_out_as_rapidjson_pretty_writer() -> None:
    """MakeJsonFromTensors writes with PrettyWriter: row items on one line, columnar one value per line,
    objects (also `{"b64": ...}`) one member per line, 4 spaces per open container."""
    outputs = {"a": np.array([[1], [2]], np.int32), "b_bytes": np.array([b"hi", b"yo"], dtype=object)}
    row = predict_response(outputs, RequestFormat.ROW).decode()
    item = (
        '        {{\n            "a": [{}],\n'
        '            "b_bytes": {{\n                "b64": "{}"\n            }}\n        }}'
    )
    items = item.format(1, "aGk=") + ",\n" + item.format(2, "eW8=")
    assert row == '{\n    "predictions": [\n' + items + "\n    ]\n}"
    columnar = predict_response(outputs, RequestFormat.COLUMNAR).decode()
    b64 = '            {{\n                "b64": "{}"\n            }}'
    assert columnar == (
        '{\n    "outputs": {\n        "a": [\n            [\n                1\n            ],\n'
        "            [\n                2\n            ]\n        ],\n"
        '        "b_bytes": [\n' + b64.format("aGk=") + ",\n" + b64.format("eW8=") + "\n        ]\n    }\n}"
    )
    scalar = predict_response({"y": np.array(3, np.int32)}, RequestFormat.COLUMNAR)
    assert scalar == b'{\n    "outputs": 3\n}'


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"s": np.array(1.0, np.float32)}, "Tensor name: s has no shape information "),
        (
            {"a": np.zeros((2,)), "b": np.zeros((3,))},
            "Tensor name: b has inconsistent batch size: 3 expecting: 2",
        ),
        ({"h": np.zeros((1,), np.float16)}, "Failed to write JSON value for tensor type: half"),
        ({"c": np.zeros((1,), np.complex64)}, "Failed to write JSON value for tensor type: complex64"),
    ],
)
def test_response_errors(outputs: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        predict_response(outputs, RequestFormat.ROW)
    assert message in info.value.message
