"""Property-based tests of the pure codecs: REST JSON (serving.rest.codec/jsonio/tensors) and TensorProto
(serving.grpc.codec), in-process.

Whatever the input, a codec either answers or raises the error type its caller turns into upstream's
answer (a `ServingError` on REST -> `{"error": ...}` with the status from serving.status; a
`TensorParseError` on gRPC -> INVALID_ARGUMENT "tensor parsing error"). Any other exception would be a
500/INTERNAL that tensorflow_model_server does not give. Successful answers have the signature's dtype and
the shape the request implies. Profiles: tests/fuzz/conftest.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from serving import dtypes
from serving.grpc.codec import TensorParseError, fill_tensor_proto, numpy_from_tensor_proto
from serving.rest.codec import RequestFormat, parse_request_body, predict_inputs, predict_response
from serving.rest.jsonio import parse_json
from serving.rest.tensors import fast_tensor_from_json, tensor_from_json
from serving.status import ServingError
from serving.types import SignatureInfo, TensorInfo
from tests.fuzz.strategies import (
    JSON_DTYPES,
    b64_objects,
    json_documents,
    json_values,
    numeric_lists,
    raw_bodies,
    tensor_protos,
)

TENSOR_DTYPES = [row for row in dtypes.ROWS if row.tensor]


def signature(types: dict[str, str]) -> SignatureInfo:
    inputs = {alias: TensorInfo(alias, dtypes.BY_NAME[name].enum_name, None) for alias, name in types.items()}
    return SignatureInfo("serving_default", "tensorflow/serving/predict", inputs, {})


def _error_text_is_clean(err: ServingError) -> None:
    assert isinstance(err.message, str)
    assert "Traceback" not in err.message


# -- REST: bytes -> document ------------------------------------------------------------------------------
@given(raw_bodies())
@example(b"\xff\xfe{")  # invalid UTF-8
@example(b"[" * 5000)  # nesting deeper than rapidjson's limit
@example(b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}")
@example(b'{"instances": [NaN, Infinity, -Infinity, -Inf, Inf]}')
@example(b'{"instances": [1e999, -1e999, 1e-999]}')
def test_any_body_parses_or_is_invalid_argument(body: bytes) -> None:
    """parse_request_body: a JsonRequest or a ServingError (upstream: 400 `{"error": ...}`)."""
    try:
        request = parse_request_body(body)
    except ServingError as err:
        _error_text_is_clean(err)
        assert err.http_status == 400
        return
    assert isinstance(request.doc, dict)
    assert isinstance(request.signature_name, str)


# -- REST: document -> tensors ----------------------------------------------------------------------------
@given(
    json_documents(), st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_DTYPES, min_size=1, max_size=3)
)
def test_predict_inputs_typed_or_invalid_argument(doc: Any, types: dict[str, str]) -> None:
    """Any request document against any signature: tensors of the signature's dtypes, or a 4xx error."""
    body = json.dumps(doc).encode()
    try:
        request = parse_request_body(body)
        tensors, fmt = predict_inputs(request, signature(types))
    except ServingError as err:
        _error_text_is_clean(err)
        assert err.http_status in (400, 501), err
        return
    assert set(tensors) <= set(types)
    for alias, arr in tensors.items():
        assert arr.dtype == dtypes.BY_NAME[types[alias]].numpy, (alias, arr.dtype)
    if fmt is RequestFormat.ROW:
        assert {arr.shape[0] for arr in tensors.values()} == {len(doc["instances"])}


@given(numeric_lists(), JSON_DTYPES)
def test_fast_path_equals_reference(value: Any, name: str) -> None:
    """The numpy fast path either declines (None) or builds exactly what the reference conversion does."""
    dt = dtypes.BY_NAME[name]
    text = json.dumps(value).encode()
    parsed = parse_json(text)
    try:
        expected: np.ndarray | None = tensor_from_json(parsed, dt)
    except ServingError as err:
        _error_text_is_clean(err)
        expected = None
    fast = fast_tensor_from_json(parsed, dt, b"true" not in text and b"false" not in text)
    if fast is None:
        return
    assert expected is not None, f"fast path accepted what the reference refuses: {value!r} as {name}"
    assert fast.dtype == expected.dtype and fast.shape == expected.shape
    if fast.dtype == object:
        assert fast.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(fast, expected)


@given(st.lists(b64_objects(), min_size=1, max_size=4))
def test_b64_objects_decode_or_invalid_argument(values: list[Any]) -> None:
    try:
        arr = tensor_from_json(values, dtypes.BY_NAME["string"])
    except ServingError as err:
        _error_text_is_clean(err)
        assert err.http_status == 400
        return
    assert arr.dtype == object and arr.shape == (len(values),)
    assert all(isinstance(v, bytes) for v in arr.tolist())


@pytest.mark.parametrize("name", sorted({row.name for row in TENSOR_DTYPES if row.kind != "unsupported"}))
@given(data=st.data())
def test_values_at_dtype_limits(name: str, data: st.DataObject) -> None:
    """Integers just inside and outside each dtype's range, floats at float32/float64 limits."""
    dt = dtypes.BY_NAME[name]
    edges: list[Any] = [
        0,
        -1,
        1,
        2**31 - 1,
        2**31,
        -(2**31) - 1,
        2**63 - 1,
        2**63,
        2**64 - 1,
        2**64,
        -(2**63),
    ]
    edges += [dt.low, dt.high, dt.low - 1, dt.high + 1, 3.4028235e38, 3.5e38, 1.7976931348623157e308, 5e-324]
    value = data.draw(st.lists(st.sampled_from(edges), min_size=1, max_size=5))
    body = json.dumps({"inputs": value}).encode()
    try:
        tensors, _ = predict_inputs(parse_request_body(body), signature({"x": name}))
    except ServingError as err:
        _error_text_is_clean(err)
        return
    assert tensors["x"].shape == (len(value),) and tensors["x"].dtype == dt.numpy


# -- REST: tensors -> response ----------------------------------------------------------------------------
_OUTPUT_DTYPES = st.sampled_from(
    ["<f4", "<f8", "<i4", "<i8", "u1", "i1", "<i2", "<u2", "<u4", "<u8", "?", "<f2", "<c8"]
)


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "scores"]),
        hnp.arrays(_OUTPUT_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(list(RequestFormat)),
)
def test_predict_response_is_json_or_invalid_argument(
    outputs: dict[str, np.ndarray], fmt: RequestFormat
) -> None:
    """Output tensors of any dtype/shape render as one JSON document (NaN/Infinity tokens allowed)."""
    try:
        body = predict_response(outputs, fmt)
    except ServingError as err:
        _error_text_is_clean(err)
        assert err.http_status in (400, 501), err
        return
    doc = parse_json(body)
    assert set(doc) == {"predictions" if fmt is RequestFormat.ROW else "outputs"}


@given(st.lists(st.binary(max_size=20), min_size=0, max_size=5))
def test_predict_response_strings(values: list[bytes]) -> None:
    arr = np.asarray([*values, b""], dtype=object)
    body = predict_response({"s": arr}, RequestFormat.COLUMNAR)
    # raw bytes go out unvalidated, as upstream's writer does: read them back byte for byte
    doc = json.loads(body.decode("utf-8", "surrogateescape"))
    assert [v.encode("utf-8", "surrogateescape") for v in doc["outputs"]] == [*values, b""]


# -- gRPC: TensorProto -> numpy ---------------------------------------------------------------------------
@given(tensor_protos())
def test_tensor_proto_decodes_or_parse_error(tp: Any) -> None:
    """Every dtype, content vs typed fields, shape/size mismatches, huge and negative dims: an array of
    the proto's shape and dtype, or TensorParseError (the servicer's INVALID_ARGUMENT), never anything else
    and never an allocation beyond the decoder's bound."""
    try:
        arr = numpy_from_tensor_proto(tp, max_bytes=1 << 20)
    except TensorParseError as err:
        assert str(err)
        return
    dims = [d.size for d in tp.tensor_shape.dim]
    assert list(arr.shape) == dims
    assert arr.dtype == dtypes.BY_ENUM[tp.dtype].numpy
    assert math.prod(dims) * arr.dtype.itemsize <= 1 << 20 or arr.size == 0


@pytest.mark.parametrize("row", TENSOR_DTYPES, ids=lambda r: r.name)
@given(data=st.data())
def test_tensor_proto_round_trip(row: dtypes.DType, data: st.DataObject) -> None:
    """numpy -> TensorProto (content or typed fields) -> numpy is the identity for every dtype."""
    from clients.protos import messages

    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    if row.numpy == np.dtype(object):
        flat = data.draw(
            st.lists(st.binary(max_size=10), min_size=math.prod(shape), max_size=math.prod(shape))
        )
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        arr = arr.reshape(shape)
    elif row.enum == dtypes.DT_BFLOAT16:  # no Hypothesis strategy: any 16-bit pattern
        arr = data.draw(hnp.arrays(np.dtype("<u2"), shape)).view(row.numpy)
    else:
        arr = data.draw(hnp.arrays(row.numpy, shape))
    tp = messages().TensorProto()
    fill_tensor_proto(tp, arr, typed_fields=data.draw(st.booleans()))
    back = numpy_from_tensor_proto(tp)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    if arr.dtype == object:
        assert back.tolist() == arr.tolist()
    else:
        assert back.tobytes() == arr.tobytes()  # bit-exact, NaN payloads and -0.0 included


# -- nesting and size extremes ----------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [63, 64, 65, 1023, 1024, 1025, 100_000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    body = ('{"instances": ' + "[" * depth + "1" + "]" * depth + "}").encode()
    try:
        predict_inputs(parse_request_body(body), signature({"x": "float"}))
    except ServingError as err:
        assert err.http_status == 400
        _error_text_is_clean(err)


@given(json_values(max_leaves=30))
def test_json_values_as_string_tensor(value: Any) -> None:
    try:
        tensor_from_json(value, dtypes.BY_NAME["string"])
    except ServingError as err:
        _error_text_is_clean(err)
