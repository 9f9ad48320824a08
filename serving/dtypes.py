"""The one dtype table: each TF DataType with its number, names, numpy dtype, TensorProto field, JSON rule.

Each row says, for one `DataType` of tensorflow/core/framework/types.proto:
- `enum` / `enum_name`: the number and the `DT_` name (wire values of TensorProto.dtype, TensorInfo.dtype);
- `name`: TF's DataTypeString ("float", "int32", ...), the spelling of runtime and REST error texts;
- `numpy`: the numpy dtype of a tensor of that type in the kit (object arrays of `bytes` for DT_STRING;
  ml_dtypes' bfloat16, loaded on first use); rows without a numpy form have `tensor=False`;
- `field`: the TensorProto repeated field holding its values when `tensor_content` is empty
  (tensor.cc ProtoHelper: int8/16, uint8/16 share `int_val`, half and bfloat16 share `half_val` as bit
  patterns, complex values are (real, imag) pairs);
- `kind`, `low`, `high`: how JSON maps onto it (util/json_tensor.cc AddValueToTensor / the writer): floats,
  ints within [low, high] (int8/int16/uint8 accept any int32 and wrap, as upstream's int_val does), bools,
  strings (`{"b64": ...}` allowed), or "unsupported" (Unimplemented on input, "Failed to write JSON value"
  on output).

Pure numpy and ints: no TensorFlow, no protobuf, so the server, both codecs, warmup and the TF-free
client all read the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

JsonKind = Literal["float", "int", "bool", "string", "unsupported"]

_I32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class DType:
    """One TF DataType (see the module docstring for each column)."""

    enum: int
    enum_name: str
    name: str
    numpy_name: str | None
    field: str | None
    kind: JsonKind = "unsupported"
    low: int = 0
    high: int = 0

    @property
    def tensor(self) -> bool:
        """True when the kit has numpy tensors of this type (the gRPC codec and clients carry it)."""
        return self.numpy_name is not None

    @cached_property
    def numpy(self) -> np.dtype[Any]:
        """numpy dtype (little-endian as tensor_content lays it out); object for types without one."""
        if self.numpy_name is None:
            return np.dtype(object)
        if self.numpy_name == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(self.numpy_name)

    @property
    def b64(self) -> bool:
        """JSON may carry values of this type as `{"b64": "..."}` (DT_STRING only)."""
        return self.kind == "string"


def _row(enum: int, name: str, numpy: str | None, field: str | None, kind: JsonKind = "unsupported",
         low: int = 0, high: int = 0) -> DType:  # fmt: skip
    return DType(enum, "DT_" + name.upper(), name, numpy, field, kind, low, high)


# types.proto numbering (TF 2.19). tests/unit/test_grpc_codec_dtypes.py checks it against TensorFlow's enum.
ROWS: tuple[DType, ...] = (
    _row(1, "float", "<f4", "float_val", "float"),
    _row(2, "double", "<f8", "double_val", "float"),
    _row(3, "int32", "<i4", "int_val", "int", *_I32),
    _row(4, "uint8", "u1", "int_val", "int", *_I32),
    _row(5, "int16", "<i2", "int_val", "int", *_I32),
    _row(6, "int8", "i1", "int_val", "int", *_I32),
    _row(7, "string", "O", "string_val", "string"),
    _row(8, "complex64", "<c8", "scomplex_val"),
    _row(9, "int64", "<i8", "int64_val", "int", -(2**63), 2**63 - 1),
    _row(10, "bool", "?", "bool_val", "bool"),
    _row(11, "qint8", None, "int_val"),
    _row(12, "quint8", None, "int_val"),
    _row(13, "qint32", None, "int_val"),
    _row(14, "bfloat16", "bfloat16", "half_val"),
    _row(15, "qint16", None, "int_val"),
    _row(16, "quint16", None, "int_val"),
    _row(17, "uint16", "<u2", "int_val"),
    _row(18, "complex128", "<c16", "dcomplex_val"),
    _row(19, "half", "<f2", "half_val"),
    _row(20, "resource", None, "resource_handle_val"),
    _row(21, "variant", None, "variant_val"),
    _row(22, "uint32", "<u4", "uint32_val", "int", 0, 2**32 - 1),
    _row(23, "uint64", "<u8", "uint64_val", "int", 0, 2**64 - 1),
    _row(24, "float8_e5m2", None, "float8_val"),
    _row(25, "float8_e4m3fn", None, "float8_val"),
    _row(26, "float8_e4m3fnuz", None, "float8_val"),
    _row(27, "float8_e4m3b11fnuz", None, "float8_val"),
    _row(28, "float8_e5m2fnuz", None, "float8_val"),
    _row(29, "int4", None, "int_val"),
    _row(30, "uint4", None, "int_val"),
)

BY_ENUM: dict[int, DType] = {row.enum: row for row in ROWS}
BY_ENUM_NAME: dict[str, DType] = {row.enum_name: row for row in ROWS}
BY_NAME: dict[str, DType] = {row.name: row for row in ROWS}

DT_INVALID = 0
DT_FLOAT = BY_NAME["float"].enum
DT_STRING = BY_NAME["string"].enum
DT_BFLOAT16 = BY_NAME["bfloat16"].enum

# numpy dtype (native byte order) -> row, for the numeric types; bytes/str/object arrays are DT_STRING.
_BY_NUMPY: dict[np.dtype[Any], DType] = {
    np.dtype(row.numpy_name).newbyteorder("="): row
    for row in ROWS
    if row.numpy_name not in (None, "O", "bfloat16")
}
_BY_KIND: dict[tuple[str, int], DType] = {(dt.kind, dt.itemsize): row for dt, row in _BY_NUMPY.items()}

# numpy dtype name -> DataTypeString ("float32" -> "float"): what `tf_type_name` answers.
_TF_NAMES: dict[str, str] = {
    **{dt.name: row.name for dt, row in _BY_NUMPY.items()},
    "bfloat16": "bfloat16",
    "string": "string",
}


def enum_name(enum: int) -> str:
    """'DT_FLOAT' for 1; a number outside the table is shown as itself."""
    row = BY_ENUM.get(enum)
    return row.enum_name if row is not None else str(enum)


def for_enum_name(enum_name: str) -> DType:
    """The row of a `DT_` name; a name outside the table gets an unsupported row (its DataTypeString
    guessed from the name), so callers can still report it."""
    row = BY_ENUM_NAME.get(enum_name)
    if row is not None:
        return row
    short = enum_name[3:].lower() if enum_name.startswith("DT_") else enum_name.lower()
    return DType(-1, enum_name, short, None, None)


def for_array(arr: np.ndarray) -> DType | None:
    """The row of a numpy array's dtype (bytes / str / object arrays -> DT_STRING); None when TF has none."""
    row = _BY_NUMPY.get(arr.dtype)
    if row is not None:
        return row
    kind = arr.dtype.kind
    if kind in "OSU":
        return BY_ENUM[DT_STRING]
    if arr.dtype.name == "bfloat16":
        return BY_ENUM[DT_BFLOAT16]
    return _BY_KIND.get((kind, arr.dtype.itemsize))


def numpy_dtypes() -> dict[str, np.dtype[Any]]:
    """`DT_` name -> numpy dtype for every type a client can build from Python values (no bfloat16,
    whose numpy type needs ml_dtypes)."""
    return {row.enum_name: row.numpy for row in ROWS if row.tensor and row.numpy_name != "bfloat16"}


_NAME_OF: dict[np.dtype[Any], str] = {}  # numeric dtype -> DataTypeString: `dtype.name` costs ~3 us a call


def tf_type_name(arr: np.ndarray) -> str:
    """TF's DataTypeString for a numpy array (bytes/str/object arrays are `string`)."""
    dtype = arr.dtype
    name = _NAME_OF.get(dtype)
    if name is None:
        if dtype.kind in "OSUV":  # sized string types are not cached: their number has no bound
            return "string" if dtype.kind != "V" else _TF_NAMES.get(dtype.name, dtype.name)
        name = _NAME_OF[dtype] = _TF_NAMES.get(dtype.name, dtype.name)
    return name


def tf_type_name_for(dtype_name: str) -> str:
    """DataTypeString for a tf.DType name (`tf.float32.name == "float32"` -> "float")."""
    return _TF_NAMES.get(dtype_name, dtype_name)


def dtype_enum_name(arr: np.ndarray) -> str:
    """The DataType enum name ("DT_FLOAT", "DT_STRING", ...) of a numpy array."""
    return "DT_" + tf_type_name(arr).upper()
