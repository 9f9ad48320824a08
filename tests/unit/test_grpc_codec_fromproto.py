"""serving.grpc.codec decodes TensorProtos as TensorFlow's `Tensor::FromProto` does, with bounded memory.

Upstream sources the cases come from:
- tensorflow/core/framework/tensor.cc `Tensor::FromProto`, `FromProtoField<T>` (cut / pad with the last
  value / zeros), `ProtoHelper<complex64>::NumElements` (pairs, a lone part ignored),
  `Helper<tstring>::Decode` (tensor_content of strings is port::DecodeStringList);
- tensorflow/core/framework/tensor_shape.cc `TensorShapeBase::IsValid(const TensorShapeProto&)` (<= 254 dims,
  no negative dim, element count within int64, unknown_rank ignored by TensorShape);
- tensorflow/cc/saved_model/util.cc `GetInputValues`, reached from TF Serving's
  servables/tensorflow/predict_util.cc `PreProcessPrediction`: a failed FromProto is INVALID_ARGUMENT
  "tensor parsing error: <alias>" (end to end: tests/live/test_client_grpc_parse_errors.py).
Every case runs on both message families the codec serves: TensorFlow's TensorProto and the TF-free
client's (clients.protos), which the codec reads by field name only.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2

from clients.protos import messages
from serving import dtypes
from serving.grpc.codec import (
    MAX_TENSOR_BYTES,
    TensorParseError,
    fill_tensor_proto,
    numpy_from_tensor_proto,
    tensor_proto_from_numpy,
)

FAMILIES: dict[str, Callable[[], Any]] = {
    "tf": lambda: tensor_pb2.TensorProto,
    "client": lambda: messages().TensorProto,
}


@pytest.fixture(params=sorted(FAMILIES))
def make(request: pytest.FixtureRequest) -> Callable[..., Any]:
    cls = FAMILIES[request.param]()

    def build(dtype: int | str, shape: list[int], unknown_rank: bool = False, **fields: Any) -> Any:
        enum = dtypes.BY_ENUM_NAME[dtype].enum if isinstance(dtype, str) else dtype
        tp = cls(dtype=enum, **fields)
        for d in shape:
            tp.tensor_shape.dim.add(size=d)
        tp.tensor_shape.unknown_rank = unknown_rank
        return tp

    return build


# One sample per dtype with a numpy form: values as the typed field holds them, and the array they mean.
SAMPLES: dict[str, tuple[list[Any], np.ndarray]] = {
    "DT_FLOAT": ([1.5, -2.0], np.array([1.5, -2.0], np.float32)),
    "DT_DOUBLE": ([1e300, -0.5], np.array([1e300, -0.5])),
    "DT_INT32": ([2**31 - 1, -(2**31)], np.array([2**31 - 1, -(2**31)], np.int32)),
    "DT_UINT8": ([0, 255], np.array([0, 255], np.uint8)),
    "DT_INT16": ([-32768, 32767], np.array([-32768, 32767], np.int16)),
    "DT_INT8": ([-128, 127], np.array([-128, 127], np.int8)),
    "DT_STRING": ([b"a", b"\x00\xff"], np.array([b"a", b"\x00\xff"], dtype=object)),
    "DT_COMPLEX64": ([1.0, 2.0, -3.0, 0.5], np.array([1 + 2j, -3 + 0.5j], np.complex64)),
    "DT_INT64": ([2**63 - 1, -(2**63)], np.array([2**63 - 1, -(2**63)], np.int64)),
    "DT_BOOL": ([True, False], np.array([True, False])),
    "DT_BFLOAT16": ([0x3F80, 0xC020], np.array([0x3F80, 0xC020], np.uint16)),  # 1.0, -2.5 (bits)
    "DT_UINT16": ([0, 65535], np.array([0, 65535], np.uint16)),
    "DT_COMPLEX128": ([1.0, -1.0, 0.0, 2.0], np.array([1 - 1j, 2j], np.complex128)),
    "DT_HALF": ([0x3C00, 0xC100], np.array([1.0, -2.5], np.float16)),
    "DT_UINT32": ([0, 2**32 - 1], np.array([0, 2**32 - 1], np.uint32)),
    "DT_UINT64": ([0, 2**64 - 1], np.array([0, 2**64 - 1], np.uint64)),
}


def _same(got: np.ndarray, want: np.ndarray, row: dtypes.DType) -> None:
    if row.enum_name == "DT_BFLOAT16":
        got = got.view(np.uint16)
    assert got.dtype == (want.dtype if row.enum_name != "DT_BFLOAT16" else np.uint16)
    assert got.tolist() == want.tolist()


def test_every_dtype_with_a_numpy_form_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(r.enum_name for r in dtypes.ROWS if r.tensor)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_typed_field_of_every_dtype(make: Callable[..., Any], name: str) -> None:
    row = dtypes.BY_ENUM_NAME[name]
    values, want = SAMPLES[name]
    tp = make(name, [2], **{row.field or "": values})
    _same(numpy_from_tensor_proto(tp), want, row)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_tensor_content_of_every_dtype(make: Callable[..., Any], name: str) -> None:
    row = dtypes.BY_ENUM_NAME[name]
    _, want = SAMPLES[name]
    if name == "DT_STRING":  # port::EncodeStringList: varint lengths, then the bytes
        content = bytes([1, 2]) + b"a\x00\xff"
    else:
        content = want.astype(want.dtype.newbyteorder("<")).tobytes()
    tp = make(name, [2], tensor_content=content)
    _same(numpy_from_tensor_proto(tp), want, row)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_dtype_pads_cuts_and_zero_fills(make: Callable[..., Any], name: str) -> None:
    """FromProtoField: fewer values -> the last repeats; more -> the first `n`; none -> T()."""
    row = dtypes.BY_ENUM_NAME[name]
    values, want = SAMPLES[name]
    per = 2 if name.startswith("DT_COMPLEX") else 1
    padded = numpy_from_tensor_proto(make(name, [3], **{row.field or "": values}))
    _same(padded, np.concatenate([want, want[-1:]]), row)
    cut = numpy_from_tensor_proto(make(name, [1], **{row.field or "": values}))
    _same(cut, want[:1], row)
    single = numpy_from_tensor_proto(make(name, [2, 2], **{row.field or "": values[:per]}))
    _same(single.reshape(-1), np.repeat(want[:1], 4), row)
    zeros = numpy_from_tensor_proto(make(name, [2]))
    assert zeros.tolist() == ([b"", b""] if name == "DT_STRING" else np.zeros(2, row.numpy).tolist())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_dtype_round_trips_through_both_encodings(make: Callable[..., Any], name: str) -> None:
    row = dtypes.BY_ENUM_NAME[name]
    _, want = SAMPLES[name]
    arr = want if name != "DT_BFLOAT16" else want.view(row.numpy)
    for typed in (False, True):
        tp = make(0, [])
        fill_tensor_proto(tp, arr.reshape(1, 2), typed_fields=typed)
        assert tp.dtype == row.enum
        back = numpy_from_tensor_proto(tp)
        assert back.shape == (1, 2)
        _same(back.reshape(-1), want, row)


@pytest.mark.parametrize("name", sorted(r.enum_name for r in dtypes.ROWS if not r.tensor))
def test_dtypes_without_a_numpy_form_are_refused(make: Callable[..., Any], name: str) -> None:
    """Deliberate difference: TF parses quantized, float8, int4, resource and variant tensors; the kit has
    no numpy form for them, so they are a parse error (no kit model takes them)."""
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make(name, [1]))


@pytest.mark.parametrize("dtype", [0, 99, 101])
def test_invalid_and_unknown_dtype_numbers(make: Callable[..., Any], dtype: int) -> None:
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make(dtype, [1], float_val=[1.0]))
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make(dtype, [0]))


def test_content_wins_over_typed_fields(make: Callable[..., Any]) -> None:
    tp = make("DT_FLOAT", [1], tensor_content=np.float32(7).tobytes(), float_val=[1.0, 2.0])
    assert numpy_from_tensor_proto(tp).tolist() == [7.0]


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_tensor_content_of_the_wrong_length(make: Callable[..., Any], size: int) -> None:
    tp = make("DT_FLOAT", [1], tensor_content=b"\x01" * size)
    if size == 0:  # empty content means "read the typed field" (none: zeros)
        assert numpy_from_tensor_proto(tp).tolist() == [0.0]
        return
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(tp)


@pytest.mark.parametrize(
    "content",
    [bytes([1, 2]) + b"a", bytes([1, 2]) + b"abcd", bytes([1]), bytes([0x80]), b"\xff" * 6],
    ids=["short", "long", "missing-length", "cut-varint", "overlong-varint"],
)
def test_malformed_string_content(make: Callable[..., Any], content: bytes) -> None:
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make("DT_STRING", [2], tensor_content=content))


def test_string_content_with_multibyte_lengths(make: Callable[..., Any]) -> None:
    big = b"x" * 300
    content = bytes([0xAC, 0x02, 0]) + big  # varint 300, then 0
    assert numpy_from_tensor_proto(make("DT_STRING", [2], tensor_content=content)).tolist() == [big, b""]


def test_complex_field_ignores_a_lone_last_part(make: Callable[..., Any]) -> None:
    tp = make("DT_COMPLEX64", [2], scomplex_val=[1.0, 2.0, 9.0])
    assert numpy_from_tensor_proto(tp).tolist() == [1 + 2j, 1 + 2j]


def test_narrow_types_wrap_as_a_cpp_cast(make: Callable[..., Any]) -> None:
    assert numpy_from_tensor_proto(make("DT_INT8", [2], int_val=[300, -129])).tolist() == [44, 127]
    assert numpy_from_tensor_proto(make("DT_UINT8", [1], int_val=[-1])).tolist() == [255]
    half = numpy_from_tensor_proto(make("DT_HALF", [1], half_val=[0x13C00]))
    assert half.tolist() == [1.0]


@pytest.mark.parametrize(
    ("shape", "fields"),
    [
        ([-1], {"float_val": [1.0]}),
        ([2, -5], {}),
        ([2**40], {"float_val": [1.0]}),
        ([2**31], {}),
        ([2**62, 4], {"float_val": [1.0]}),
        ([2**32, 2**32], {}),
        ([2**63 - 1, 2], {}),
        ([1] * 255, {"float_val": [1.0]}),
        ([1] * 65, {"float_val": [1.0]}),
    ],
    ids=[
        "negative",
        "negative-inner",
        "2**40-one-float",
        "8GiB-no-values",
        "bytes-overflow",
        "elements-overflow",
        "int64-overflow",
        "rank-255",
        "rank-65-beyond-numpy",
    ],
)
def test_impossible_shapes_are_parse_errors(make: Callable[..., Any], shape: list[int], fields: Any) -> None:
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make("DT_FLOAT", shape, **fields))


def test_huge_dims_are_refused_before_any_allocation(make: Callable[..., Any]) -> None:
    tracemalloc.start()
    try:
        for shape in ([2**40], [2**20, 2**20], [MAX_TENSOR_BYTES // 4 + 1]):
            with pytest.raises(TensorParseError):
                numpy_from_tensor_proto(make("DT_FLOAT", shape, float_val=[1.0]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_max_bytes_bounds_padding(make: Callable[..., Any]) -> None:
    tp = make("DT_INT64", [1000], int64_val=[1])
    assert numpy_from_tensor_proto(tp, max_bytes=8000).sum() == 1000
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(tp, max_bytes=7999)


@pytest.mark.parametrize("shape", [[0], [0, 2**40], [3, 0, 2**40], [2**40, 0]])
def test_empty_tensors_ignore_their_values(make: Callable[..., Any], shape: list[int]) -> None:
    """N == 0: FromProto only checks the dtype; contents are not read."""
    tp = make("DT_FLOAT", shape, tensor_content=b"junk", float_val=[1.0])
    out = numpy_from_tensor_proto(tp)
    assert out.size == 0 and out.dtype == np.float32 and list(out.shape) == shape


def test_empty_tensors_numpy_cannot_shape_are_parse_errors(make: Callable[..., Any]) -> None:
    """Deliberate difference: TensorShape takes [0, 2**62]; numpy refuses dims whose bytes overflow."""
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(make("DT_FLOAT", [0, 2**62]))


def test_unknown_rank_is_ignored_as_tensor_shape_does(make: Callable[..., Any]) -> None:
    assert numpy_from_tensor_proto(make("DT_FLOAT", [], unknown_rank=True, float_val=[2.0])).shape == ()
    assert numpy_from_tensor_proto(make("DT_FLOAT", [2], unknown_rank=True)).shape == (2,)


def test_tensor_proto_from_numpy_builds_either_family() -> None:
    client_cls = messages().TensorProto
    built = tensor_proto_from_numpy(np.arange(3, dtype=np.int64), message=client_cls)
    assert isinstance(built, client_cls)
    tf_built = tensor_proto_from_numpy(np.arange(3, dtype=np.int64))
    assert isinstance(tf_built, tensor_pb2.TensorProto)
    assert built.SerializeToString() == tf_built.SerializeToString()
