"""serving.grpc.codec: TensorProto <-> numpy in both encodings, TF's broadcast rules, bad protos.

The FromProto rules case by case (cut, pad, shapes, sizes, every dtype): test_grpc_codec_fromproto.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.grpc.codec import (
    TensorParseError,
    data_type_for,
    numpy_from_tensor_proto,
    tensor_proto_from_numpy,
)


def _proto(dtype: int, shape: list[int], **fields: object) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
    return tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **fields
    )


NUMERIC = [
    np.array([[1.5, -2.25], [3.0, np.inf]], dtype=np.float32),
    np.array([1e300, -0.0, np.nan], dtype=np.float64),
    np.array([[1, -2, 2**31 - 1]], dtype=np.int32),
    np.array([2**62, -(2**63)], dtype=np.int64),
    np.array([0, 255], dtype=np.uint8),
    np.array([-128, 127], dtype=np.int8),
    np.array([-3, 30000], dtype=np.int16),
    np.array([65535], dtype=np.uint16),
    np.array([2**32 - 1], dtype=np.uint32),
    np.array([2**64 - 1], dtype=np.uint64),
    np.array([True, False, True]),
    np.array([1.5, -2.0, 65504.0], dtype=np.float16),
    np.array([1 + 2j, -3.5j], dtype=np.complex64),
    np.array([1 + 2j], dtype=np.complex128),
    np.array(7.5, dtype=np.float32),
    np.zeros((0, 3), dtype=np.float32),
]


@pytest.mark.parametrize("typed", [False, True], ids=["tensor_content", "typed_fields"])
@pytest.mark.parametrize("arr", NUMERIC, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_numeric_round_trip(arr: np.ndarray, typed: bool) -> None:
    tp = tensor_proto_from_numpy(arr, typed_fields=typed)
    assert bool(tp.tensor_content) == (not typed and arr.size > 0)
    back = numpy_from_tensor_proto(tp)
    assert back.dtype == arr.dtype
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_numeric_uses_tensor_content_buffer() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    tp = tensor_proto_from_numpy(arr)
    assert tp.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in tp.tensor_shape.dim] == [2, 3]
    assert tp.tensor_content == arr.tobytes()
    assert len(tp.float_val) == 0


def test_big_endian_input_is_written_little_endian() -> None:
    arr = np.array([1.0, 2.0], dtype=">f4")
    tp = tensor_proto_from_numpy(arr)
    assert tp.tensor_content == np.array([1.0, 2.0], dtype="<f4").tobytes()


def test_strings_bytes_and_str() -> None:
    arr = np.array([[b"a", "é"], [b"\x00\xff", ""]], dtype=object)
    tp = tensor_proto_from_numpy(arr)
    assert tp.dtype == types_pb2.DT_STRING
    assert list(tp.string_val) == [b"a", "é".encode(), b"\x00\xff", b""]
    back = numpy_from_tensor_proto(tp)
    assert back.dtype == object and back.shape == (2, 2)
    assert back[1, 0] == b"\x00\xff"


def test_numpy_unicode_array_is_string() -> None:
    tp = tensor_proto_from_numpy(np.array(["x", "yz"]))
    assert tp.dtype == types_pb2.DT_STRING and list(tp.string_val) == [b"x", b"yz"]


def test_typed_field_decoding() -> None:
    tp = _proto(types_pb2.DT_FLOAT, [2, 2], float_val=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(numpy_from_tensor_proto(tp), [[1, 2], [3, 4]])
    tp = _proto(types_pb2.DT_INT64, [3], int64_val=[1, 2, 3])
    assert numpy_from_tensor_proto(tp).dtype == np.int64


def test_half_val_holds_bit_patterns() -> None:
    bits = np.array([1.0, -2.5], dtype=np.float16).view(np.uint16).astype(np.int32)
    tp = _proto(types_pb2.DT_HALF, [2], half_val=bits.tolist())
    np.testing.assert_array_equal(numpy_from_tensor_proto(tp), np.array([1.0, -2.5], dtype=np.float16))


def test_single_value_broadcasts_like_tensorflow() -> None:
    tp = _proto(types_pb2.DT_FLOAT, [2, 3], float_val=[4.5])
    np.testing.assert_array_equal(numpy_from_tensor_proto(tp), np.full((2, 3), 4.5, dtype=np.float32))
    tp = _proto(types_pb2.DT_INT32, [4], int_val=[1, 2])
    np.testing.assert_array_equal(numpy_from_tensor_proto(tp), [1, 2, 2, 2])
    tp = _proto(types_pb2.DT_STRING, [3], string_val=[b"s"])
    assert numpy_from_tensor_proto(tp).tolist() == [b"s", b"s", b"s"]


def test_no_values_means_zeros() -> None:
    np.testing.assert_array_equal(numpy_from_tensor_proto(_proto(types_pb2.DT_DOUBLE, [2])), [0.0, 0.0])
    assert numpy_from_tensor_proto(_proto(types_pb2.DT_STRING, [1])).tolist() == [b""]


def test_scalar_shape() -> None:
    back = numpy_from_tensor_proto(_proto(types_pb2.DT_FLOAT, [], float_val=[3.0]))
    assert back.shape == () and float(back) == 3.0


@pytest.mark.parametrize(
    "tp",
    [
        _proto(types_pb2.DT_FLOAT, [2], tensor_content=b"\x00" * 7),
        _proto(types_pb2.DT_FLOAT, [-1], float_val=[1.0]),
        _proto(types_pb2.DT_RESOURCE, [1]),
        _proto(types_pb2.DT_INVALID, [1]),
    ],
    ids=["content-size", "negative-dim", "resource", "invalid"],
)
def test_malformed_protos_raise(tp: tensor_pb2.TensorProto) -> None:
    with pytest.raises(TensorParseError):
        numpy_from_tensor_proto(tp)


def test_data_type_for_rejects_unsupported() -> None:
    with pytest.raises(TypeError):
        data_type_for(np.array([np.datetime64("2020-01-01")]))


def test_large_tensor_round_trip_is_exact() -> None:
    arr = np.random.default_rng(0).standard_normal((256, 121)).astype(np.float32)
    np.testing.assert_array_equal(numpy_from_tensor_proto(tensor_proto_from_numpy(arr)), arr)
