"""serving.dtypes, the one dtype table, checked against TensorFlow's own enum, fields and numpy types.

Sources: tensorflow/core/framework/types.proto (numbers, DT_ names), types.cc DataTypeStringInternal (names
in runtime errors), tensor.proto / tensor.cc ProtoHelper (typed fields), TF Serving's util/json_tensor.cc
(the JSON rules).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import dtypes
from tests.support.server import REPO


def test_every_tensorflow_datatype_has_one_row() -> None:
    real = {v.number: v.name for v in types_pb2.DataType.DESCRIPTOR.values if 0 < v.number < 100}
    assert {r.enum: r.enum_name for r in dtypes.ROWS} == real


@pytest.mark.parametrize("row", dtypes.ROWS, ids=lambda r: r.enum_name)
def test_row_matches_tensorflow(row: dtypes.DType) -> None:
    assert row.field in tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name
    tf_dtype = tf.dtypes.as_dtype(row.enum)
    if row.tensor:
        want = np.dtype(object) if row.enum == dtypes.DT_STRING else np.dtype(tf_dtype.as_numpy_dtype)
        assert row.numpy == want
    # DataTypeString: TF's python names differ only for float/double/half (float32/float64/float16).
    python_names = {"float": "float32", "double": "float64", "half": "float16"}
    assert python_names.get(row.name, row.name) == tf_dtype.name


def test_json_rules_follow_json_tensor_cc() -> None:
    """AddValueToTensor / the writer handle exactly these types; the rest is Unimplemented."""
    handled = {r.enum_name for r in dtypes.ROWS if r.kind != "unsupported"}
    assert handled == {
        "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_INT16", "DT_INT8", "DT_UINT8", "DT_STRING", "DT_INT64",
        "DT_BOOL", "DT_UINT32", "DT_UINT64",
    }  # fmt: skip
    assert [r.enum_name for r in dtypes.ROWS if r.b64] == ["DT_STRING"]
    int8 = dtypes.BY_ENUM_NAME["DT_INT8"]
    assert (int8.low, int8.high) == (-(2**31), 2**31 - 1)  # IsInt: wraps like int_val
    assert dtypes.BY_ENUM_NAME["DT_UINT64"].high == 2**64 - 1


def test_lookups() -> None:
    assert dtypes.for_array(np.zeros(1, ">f4")) is dtypes.BY_ENUM_NAME["DT_FLOAT"]
    assert dtypes.for_array(np.array(["a"])) is dtypes.BY_ENUM_NAME["DT_STRING"]
    assert dtypes.for_array(np.array([b"a"], dtype=object)) is dtypes.BY_ENUM_NAME["DT_STRING"]
    assert dtypes.for_array(np.array([np.datetime64("2020-01-01")])) is None
    assert dtypes.enum_name(7) == "DT_STRING" and dtypes.enum_name(77) == "77"
    assert dtypes.for_enum_name("DT_NOPE").kind == "unsupported"
    assert dtypes.for_enum_name("DT_NOPE").name == "nope"
    assert dtypes.tf_type_name(np.zeros(1, np.float16)) == "half"
    assert dtypes.tf_type_name_for("float64") == "double"
    assert dtypes.dtype_enum_name(np.zeros(1, np.uint16)) == "DT_UINT16"
    assert "DT_BFLOAT16" not in dtypes.numpy_dtypes()
    assert dtypes.numpy_dtypes()["DT_STRING"] == np.dtype(object)


def test_table_imports_neither_tensorflow_nor_protobuf() -> None:
    probe = (
        "import sys, serving.dtypes, serving.grpc.codec\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'google', 'ml_dtypes')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
