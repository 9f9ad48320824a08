"""TensorProto <-> numpy, both directions, without per-element Python loops for numeric tensors.

Duck-typed on the message's fields: it works on TensorFlow's `tensor_pb2.TensorProto` (the server) and on
the TF-free client's messages alike, and imports neither TensorFlow nor protobuf. Every dtype fact comes
from `serving.dtypes`.

Decoding follows TensorFlow's `Tensor::FromProto` (tensorflow/core/framework/tensor.cc), which TF Serving
runs on each input (`saved_model::GetInputValues`, answering "tensor parsing error: <alias>"):
- the shape must be valid (TensorShape::IsValid): at most 254 dims, none negative, element count within
  int64; `unknown_rank` is ignored, as TensorShape does;
- the dtype must be a real type (not DT_INVALID, not an unknown number);
- a tensor with no elements is valid whatever its values;
- `tensor_content`, when not empty, must hold exactly count * itemsize bytes (strings: TF's varint-length
  string list);
- otherwise the typed field is read: more values than the shape holds are cut, fewer are padded with the
  last one, none means zeros (FromProtoField); complex values are (real, imag) pairs; int_val / half_val
  hold narrower types, truncated to their width as a C++ cast does.
Sizes are checked before anything is allocated: a tensor larger than `MAX_TENSOR_BYTES` (what one gRPC
message can carry at most) is refused, where TensorFlow would try to allocate it and fail only when the
allocator does. Errors raise `TensorParseError` with the reason (logged, never sent to a client).

Encoding writes numeric tensors as `tensor_content` (one buffer copy) unless `typed_fields=True`, which
mirrors the upstream server's default output encoding. Both are decoded by every TF Serving client.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving import dtypes
from serving.dtypes import DType

MAX_DIMS = 254  # TensorShape's MaxDimensions()
MAX_ELEMENTS = 2**63 - 1  # MultiplyWithoutOverflow's bound
MAX_TENSOR_BYTES = 2**31 - 1  # the largest gRPC message tensorflow_model_server accepts (INT_MAX)
_NUMPY_MAX_DIMS = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32


class TensorParseError(ValueError):
    """A TensorProto that cannot become a tensor (bad shape, dtype, size or value count)."""


def dtype_name(dtype: int) -> str:
    """'DT_FLOAT' for 1 (unknown numbers are shown as-is)."""
    return dtypes.enum_name(dtype)


def numpy_dtype(dtype: int) -> np.dtype[Any]:
    """numpy dtype for a TF DataType number (DT_STRING -> object, DT_BFLOAT16 -> ml_dtypes)."""
    row = dtypes.BY_ENUM.get(dtype)
    if row is None or not row.tensor:
        raise TensorParseError(f"unsupported dtype {dtype_name(dtype)}")
    return row.numpy


def data_type_for(arr: np.ndarray) -> int:
    """TF DataType number for a numpy array (bytes / str / object arrays -> DT_STRING)."""
    row = dtypes.for_array(arr)
    if row is None:
        raise TypeError(f"no TensorFlow dtype for numpy dtype {arr.dtype}")
    return row.enum


# ---- TensorProto -> numpy ------------------------------------------------------------------------------


def _shape_of(tp: Any) -> tuple[list[int], int]:
    """(dims, element count) of a valid TensorShapeProto (TensorShape::IsValid)."""
    dims = [d.size for d in tp.tensor_shape.dim]
    if len(dims) > MAX_DIMS:
        raise TensorParseError(f"{len(dims)} dimensions, more than {MAX_DIMS}")
    count = 1
    for d in dims:
        if d < 0:
            raise TensorParseError(f"shape {dims} has a negative dimension")
        count *= d
        if count > MAX_ELEMENTS:
            raise TensorParseError(f"shape {dims} has more than 2**63-1 elements")
    return dims, count


def _row_of(tp: Any) -> DType:
    row = dtypes.BY_ENUM.get(tp.dtype)
    if row is None:
        raise TensorParseError(f"invalid dtype {tp.dtype}")
    if not row.tensor:
        raise TensorParseError(f"{row.enum_name} has no numpy form in the kit")
    return row


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """One varint32 of TF's string list encoding (core::GetVarint32): (value, next position)."""
    value = shift = 0
    while shift < 35:
        if pos >= len(buf):
            raise TensorParseError("string tensor_content ends inside a length")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFFFFFF, pos
        shift += 7
    raise TensorParseError("string tensor_content holds a malformed length")


def _string_content(content: bytes, count: int) -> list[bytes]:
    """port::DecodeStringList: `count` varint lengths, then exactly that many bytes."""
    if count > len(content):  # each length takes at least one byte
        raise TensorParseError(f"string tensor_content of {len(content)} bytes cannot hold {count} strings")
    sizes, pos = [], 0
    for _ in range(count):
        size, pos = _varint(content, pos)
        sizes.append(size)
    if sum(sizes) != len(content) - pos:
        raise TensorParseError("string tensor_content lengths do not add up to its size")
    out = []
    for size in sizes:
        out.append(content[pos : pos + size])
        pos += size
    return out


def _field_values(tp: Any, row: DType) -> np.ndarray:
    """The typed field as a 1-D array of the row's numpy dtype (ProtoHelper<T>)."""
    raw = getattr(tp, row.field or "")
    target = row.numpy
    if row.field == "string_val":
        out = np.empty(len(raw), dtype=object)
        out[:] = list(raw)
        return out
    if row.field == "half_val":  # 16-bit patterns stored in int32
        return np.asarray(raw, dtype=np.int32).astype(np.uint16).view(target)
    if row.field in ("scomplex_val", "dcomplex_val"):  # (real, imag) pairs; a lone last part is ignored
        parts = np.asarray(raw, dtype=target.type(0).real.dtype)
        return parts[: parts.shape[0] // 2 * 2].view(target)
    if row.field == "int_val" and target.itemsize < 4:  # uint8/int8/int16/uint16: C++ narrowing cast
        return np.asarray(raw, dtype=np.int32).astype(target)
    return np.asarray(raw, dtype=target)


def _fill(values: np.ndarray, count: int) -> np.ndarray:
    """FromProtoField: cut to `count`, or pad with the last value (zeros / b"" when there is none)."""
    have = values.shape[0]
    if have >= count:
        return values[:count]
    if have == 0:
        if values.dtype == object:
            out = np.empty(count, dtype=object)
            out[:] = [b""] * count
            return out
        return np.zeros(count, dtype=values.dtype)
    out = np.empty(count, dtype=values.dtype)
    out[:have] = values
    out[have:] = values[-1]
    return out


def numpy_from_tensor_proto(tp: Any, *, max_bytes: int = MAX_TENSOR_BYTES) -> np.ndarray:
    """Decode a TensorProto (tensor_content or typed field) into a numpy array of its shape."""
    dims, count = _shape_of(tp)
    row = _row_of(tp)
    if len(dims) > _NUMPY_MAX_DIMS:
        raise TensorParseError(f"{len(dims)} dimensions, more than numpy's {_NUMPY_MAX_DIMS}")
    dtype = row.numpy
    if count == 0:
        try:
            return np.empty(dims, dtype=dtype)
        except ValueError:  # numpy's own bound: nonzero dims whose bytes overflow intp
            raise TensorParseError(f"numpy cannot hold an empty tensor of shape {dims}") from None
    if count * dtype.itemsize > max_bytes:
        raise TensorParseError(f"shape {dims} of {row.enum_name} needs more than {max_bytes} bytes")
    content = tp.tensor_content
    try:
        if content:
            if row.enum == dtypes.DT_STRING:
                flat: np.ndarray = np.empty(count, dtype=object)
                flat[:] = _string_content(content, count)
            elif len(content) != count * dtype.itemsize:
                raise TensorParseError(
                    f"tensor_content holds {len(content)} bytes, shape {dims} of {row.enum_name} "
                    f"needs {count * dtype.itemsize}"
                )
            else:
                flat = np.frombuffer(content, dtype=dtype)
        else:
            flat = _fill(_field_values(tp, row), count)
        return flat.reshape(dims)
    except MemoryError:  # the allocator said no, as TF's returning nullptr
        raise TensorParseError(f"cannot allocate shape {dims} of {row.enum_name}") from None


# ---- numpy -> TensorProto ------------------------------------------------------------------------------


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise TypeError(f"string tensor element must be bytes or str, got {type(value).__name__}")


def tensor_proto_from_numpy(arr: np.ndarray | Any, *, typed_fields: bool = False, message: Any = None) -> Any:
    """Encode an array (or anything `np.asarray` accepts) as a new TensorProto.

    `message` is the TensorProto class to build (default: TensorFlow's `tensor_pb2.TensorProto`, imported
    on first use; the TF-free client passes its own). Numeric tensors go into `tensor_content`
    (little-endian bytes) by default, or into the typed field with `typed_fields=True`; bytes / str /
    object arrays go into `string_val` (str as UTF-8).
    """
    if message is None:
        from tensorflow.core.framework import tensor_pb2

        message = tensor_pb2.TensorProto
    tp = message()
    fill_tensor_proto(tp, arr, typed_fields=typed_fields)
    return tp


def fill_tensor_proto(tp: Any, arr: np.ndarray | Any, *, typed_fields: bool = False) -> None:
    """`tensor_proto_from_numpy` into an existing (empty) message, e.g. a request or response map entry."""
    arr = np.asarray(arr)
    row = dtypes.for_array(arr)
    if row is None:
        raise TypeError(f"no TensorFlow dtype for numpy dtype {arr.dtype}")
    tp.dtype = row.enum
    dims = tp.tensor_shape.dim
    for d in arr.shape:
        dims.add(size=d)
    if row.enum == dtypes.DT_STRING:
        tp.string_val.extend([_as_bytes(v) for v in arr.ravel().tolist()])
        return
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    if not typed_fields:
        tp.tensor_content = np.ascontiguousarray(little).tobytes()
        return
    flat = little.ravel()
    if row.field == "half_val":
        values: Any = flat.view(np.uint16).astype(np.int32)
    elif row.field in ("scomplex_val", "dcomplex_val"):
        values = flat.view(flat.real.dtype)
    else:
        values = flat
    getattr(tp, row.field or "").extend(values.tolist())
