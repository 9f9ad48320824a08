"""numpy dtype -> TensorFlow dtype names, as TF's runtime and TF Serving's messages spell them."""

from __future__ import annotations

import numpy as np

# numpy dtype name -> TF DataTypeString ("float", "double", ...), the names in runtime errors.
_TF_NAMES: dict[str, str] = {
    "float32": "float",
    "float64": "double",
    "float16": "half",
    "bfloat16": "bfloat16",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "complex64": "complex64",
    "complex128": "complex128",
    "string": "string",
}


def tf_type_name(arr: np.ndarray) -> str:
    """TF's DataTypeString for a numpy array (bytes/str/object arrays are `string`)."""
    if arr.dtype.kind in "OSU":
        return "string"
    return _TF_NAMES.get(arr.dtype.name, arr.dtype.name)


def tf_type_name_for(dtype_name: str) -> str:
    """DataTypeString for a tf.DType name (`tf.float32.name == "float32"` -> "float")."""
    return _TF_NAMES.get(dtype_name, dtype_name)


def dtype_enum_name(arr: np.ndarray) -> str:
    """The DataType enum name ("DT_FLOAT", "DT_STRING", ...) of a numpy array."""
    return "DT_" + tf_type_name(arr).upper()
