"""TensorProto <-> numpy, both directions, without per-element Python loops for numeric tensors.

Decoding accepts both encodings TF Serving and its clients use: `tensor_content` (raw little-endian
buffer) and the typed repeated fields (`float_val`, `int64_val`, `half_val`, `string_val`, ...). As in
TensorFlow's `Tensor::FromProto`, a typed field with fewer values than the shape needs is padded with its
last value (one value broadcasts to the whole shape; none means zeros), and more values than the shape
holds is an error. Bytes tensors are numpy object arrays of `bytes`.

Encoding writes numeric tensors as `tensor_content` (one buffer copy) unless `typed_fields=True`, which
mirrors the upstream server's default output encoding. Both are decoded by every TF Serving client.

Errors raise `TensorParseError` with the reason; the server turns it into INVALID_ARGUMENT
`tensor parsing error: <alias>`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

TensorProto = tensor_pb2.TensorProto

# DataType enum -> numpy dtype (little-endian, as TensorFlow lays out tensor_content).
_NUMPY_FOR_DTYPE: dict[int, np.dtype[Any]] = {
    types_pb2.DT_FLOAT: np.dtype("<f4"),
    types_pb2.DT_DOUBLE: np.dtype("<f8"),
    types_pb2.DT_INT32: np.dtype("<i4"),
    types_pb2.DT_UINT8: np.dtype("u1"),
    types_pb2.DT_INT16: np.dtype("<i2"),
    types_pb2.DT_INT8: np.dtype("i1"),
    types_pb2.DT_COMPLEX64: np.dtype("<c8"),
    types_pb2.DT_INT64: np.dtype("<i8"),
    types_pb2.DT_BOOL: np.dtype("?"),
    types_pb2.DT_UINT16: np.dtype("<u2"),
    types_pb2.DT_COMPLEX128: np.dtype("<c16"),
    types_pb2.DT_HALF: np.dtype("<f2"),
    types_pb2.DT_UINT32: np.dtype("<u4"),
    types_pb2.DT_UINT64: np.dtype("<u8"),
}

_DTYPE_FOR_KIND: dict[tuple[str, int], int] = {
    ("f", 4): types_pb2.DT_FLOAT,
    ("f", 8): types_pb2.DT_DOUBLE,
    ("f", 2): types_pb2.DT_HALF,
    ("i", 4): types_pb2.DT_INT32,
    ("i", 8): types_pb2.DT_INT64,
    ("i", 2): types_pb2.DT_INT16,
    ("i", 1): types_pb2.DT_INT8,
    ("u", 1): types_pb2.DT_UINT8,
    ("u", 2): types_pb2.DT_UINT16,
    ("u", 4): types_pb2.DT_UINT32,
    ("u", 8): types_pb2.DT_UINT64,
    ("b", 1): types_pb2.DT_BOOL,
    ("c", 8): types_pb2.DT_COMPLEX64,
    ("c", 16): types_pb2.DT_COMPLEX128,
}

# Fast path of data_type_for: the native-order numpy dtypes (hashable, compared by value).
_DTYPE_FOR_NUMPY: dict[np.dtype[Any], int] = {
    np.dtype(dt).newbyteorder("="): enum for enum, dt in _NUMPY_FOR_DTYPE.items()
}

# DataType enum -> name of the typed repeated field holding its values (tensor.proto).
_FIELD_FOR_DTYPE: dict[int, str] = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
    types_pb2.DT_STRING: "string_val",
}


class TensorParseError(ValueError):
    """A TensorProto that cannot become a tensor (bad shape, dtype or value count)."""


def dtype_name(dtype: int) -> str:
    """'DT_FLOAT' for types_pb2.DT_FLOAT (unknown numbers are shown as-is)."""
    try:
        return str(types_pb2.DataType.Name(dtype))
    except ValueError:
        return str(dtype)


def numpy_dtype(dtype: int) -> np.dtype[Any]:
    """numpy dtype for a TF DataType enum value (DT_STRING -> object, DT_BFLOAT16 -> ml_dtypes)."""
    if dtype == types_pb2.DT_STRING:
        return np.dtype(object)
    if dtype == types_pb2.DT_BFLOAT16:
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    found = _NUMPY_FOR_DTYPE.get(dtype)
    if found is None:
        raise TensorParseError(f"unsupported dtype {dtype_name(dtype)}")
    return found


def data_type_for(arr: np.ndarray) -> int:
    """TF DataType enum value for a numpy array (bytes / str / object arrays -> DT_STRING)."""
    known = _DTYPE_FOR_NUMPY.get(arr.dtype)
    if known is not None:
        return known
    kind = arr.dtype.kind
    if kind in "OSU":
        return int(types_pb2.DT_STRING)
    if arr.dtype.name == "bfloat16":
        return int(types_pb2.DT_BFLOAT16)
    found = _DTYPE_FOR_KIND.get((kind, arr.dtype.itemsize))
    if found is None:
        raise TypeError(f"no TensorFlow dtype for numpy dtype {arr.dtype}")
    return found


def _shape_of(tp: tensor_pb2.TensorProto) -> list[int]:
    shape = tp.tensor_shape
    if shape.unknown_rank:
        raise TensorParseError("tensor shape has unknown rank")
    dims = [d.size for d in shape.dim]
    if dims and min(dims) < 0:
        raise TensorParseError(f"tensor shape {dims} has a negative dimension")
    return dims


def _fill(values: np.ndarray, count: int) -> np.ndarray:
    """TensorFlow's FromProto rule: pad with the last value (zeros when there is none)."""
    have = values.shape[0]
    if have == count:
        return values
    if have > count:
        raise TensorParseError(f"{have} values for a tensor of {count} elements")
    out = np.zeros(count, dtype=values.dtype) if have == 0 else np.empty(count, dtype=values.dtype)
    if have:
        out[:have] = values
        out[have:] = values[-1]
    return out


def _strings(tp: tensor_pb2.TensorProto, count: int) -> np.ndarray:
    values = list(tp.string_val)
    if len(values) > count:
        raise TensorParseError(f"{len(values)} values for a tensor of {count} elements")
    if len(values) < count:
        values.extend([values[-1] if values else b""] * (count - len(values)))
    out = np.empty(count, dtype=object)
    out[:] = values
    return out


def _typed_values(tp: tensor_pb2.TensorProto, dtype: np.dtype[Any]) -> np.ndarray:
    field = _FIELD_FOR_DTYPE.get(tp.dtype)
    if field is None:
        raise TensorParseError(f"unsupported dtype {dtype_name(tp.dtype)}")
    raw = getattr(tp, field)
    if field == "half_val":  # 16-bit patterns stored in int32
        return np.asarray(raw, dtype=np.uint16).view(dtype)
    if field in ("scomplex_val", "dcomplex_val"):  # (real, imag) pairs
        parts = np.asarray(raw, dtype=np.float32 if field == "scomplex_val" else np.float64)
        if parts.shape[0] % 2:
            raise TensorParseError("complex values must come in (real, imag) pairs")
        return parts.view(dtype)
    return np.asarray(raw, dtype=dtype)


def numpy_from_tensor_proto(tp: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a TensorProto (tensor_content or typed fields) into a numpy array of its shape."""
    shape = _shape_of(tp)
    count = math.prod(shape)
    if tp.dtype == types_pb2.DT_STRING:
        return _strings(tp, count).reshape(shape)
    dtype = numpy_dtype(tp.dtype)
    if tp.tensor_content:
        content = tp.tensor_content
        if len(content) != count * dtype.itemsize:
            raise TensorParseError(
                f"tensor_content holds {len(content)} bytes, shape {list(shape)} of "
                f"{dtype_name(tp.dtype)} needs {count * dtype.itemsize}"
            )
        flat = np.frombuffer(content, dtype=dtype)
    else:
        flat = _fill(_typed_values(tp, dtype), count)
    return flat.reshape(shape)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise TypeError(f"string tensor element must be bytes or str, got {type(value).__name__}")


def _set_shape(tp: tensor_pb2.TensorProto, shape: tuple[int, ...]) -> None:
    dims = tp.tensor_shape.dim
    for d in shape:
        dims.add(size=d)


def tensor_proto_from_numpy(arr: np.ndarray | Any, *, typed_fields: bool = False) -> tensor_pb2.TensorProto:
    """Encode an array (or anything `np.asarray` accepts) as a TensorProto.

    Numeric tensors go into `tensor_content` (little-endian bytes) by default, or into the typed repeated
    field with `typed_fields=True`; bytes / str / object arrays go into `string_val` (str as UTF-8).
    """
    tp = tensor_pb2.TensorProto()
    fill_tensor_proto(tp, arr, typed_fields=typed_fields)
    return tp


def fill_tensor_proto(
    tp: tensor_pb2.TensorProto, arr: np.ndarray | Any, *, typed_fields: bool = False
) -> None:
    """`tensor_proto_from_numpy` into an existing (empty) message, e.g. a response map entry: no copy."""
    arr = np.asarray(arr)
    dtype = data_type_for(arr)
    tp.dtype = dtype
    _set_shape(tp, arr.shape)
    if dtype == types_pb2.DT_STRING:
        tp.string_val.extend([_as_bytes(v) for v in arr.ravel().tolist()])
        return
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    if not typed_fields:
        tp.tensor_content = np.ascontiguousarray(little).tobytes()
        return
    field = _FIELD_FOR_DTYPE[dtype]
    flat = little.ravel()
    if field == "half_val":
        values: Any = flat.view(np.uint16).astype(np.int32)
    elif field in ("scomplex_val", "dcomplex_val"):
        values = flat.view(flat.real.dtype)
    else:
        values = flat
    getattr(tp, field).extend(values.tolist())
