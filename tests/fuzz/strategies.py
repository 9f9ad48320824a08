"""Hypothesis strategies for TF Serving request bodies, shared by the in-process and the live fuzz tests.

They aim at what json_tensor.cc checks: row vs columnar, b64 objects, nested and ragged lists, numbers at
dtype limits, NaN/Infinity, deep nesting, long strings, wrong JSON types, invalid UTF-8.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from serving import dtypes

# Signature dtypes the REST API converts (dtypes.DType.kind != "unsupported").
JSON_DTYPES = st.sampled_from(sorted(row.name for row in dtypes.ROWS if row.kind != "unsupported"))

LIMITS = [
    0, 1, -1, 127, 128, 255, 256, -129, 32767, 32768, -32769, 2**31 - 1, 2**31, -(2**31) - 1,
    2**32 - 1, 2**32, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**30,
    3.4028234663852886e38, 3.5e38, -3.5e38, 1.7976931348623157e308, 5e-324, 1e-45, 0.5, -0.0,
]  # fmt: skip
NON_FINITE = [float("nan"), float("inf"), float("-inf")]

numbers = st.one_of(
    st.sampled_from(LIMITS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NON_FINITE),
)


@st.composite
def b64_objects(draw: st.DrawFn) -> dict[str, Any]:
    """`{"b64": ...}` with valid, unpadded, whitespace-laden or invalid base64, or a wrong value type."""
    raw = draw(st.binary(max_size=24))
    text = base64.b64encode(raw).decode()
    value = draw(
        st.one_of(
            st.just(text),
            st.just(text.rstrip("=")),
            st.just(" ".join(text)),
            st.text(max_size=12),
            st.integers(),
            st.none(),
            st.lists(st.integers(), max_size=2),
        )
    )
    obj: dict[str, Any] = {"b64": value}
    if draw(st.booleans()) and draw(st.booleans()):
        obj["extra"] = 1
    return obj


scalars = st.one_of(
    numbers,
    st.booleans(),
    st.none(),
    st.text(max_size=16),
    b64_objects(),
)


def json_values(max_leaves: int = 40) -> st.SearchStrategy[Any]:
    """Nested and ragged lists / objects of any JSON scalar."""
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(["x", "y", "b64", "z"]), inner, max_size=3),
        ),
        max_leaves=max_leaves,
    )


def numeric_lists() -> st.SearchStrategy[Any]:
    """Dense or ragged lists of numbers and booleans: what the numpy fast path has to get right."""
    leaf = st.one_of(numbers, st.booleans())
    dense = st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(leaf, min_size=n, max_size=n), max_size=4))
    return st.one_of(
        leaf,
        st.lists(leaf, max_size=6),
        dense,
        st.recursive(leaf, lambda inner: st.lists(inner, max_size=3), max_leaves=12),
    )


@st.composite
def json_documents(draw: st.DrawFn) -> Any:
    """A predict body: row (`instances`) or columnar (`inputs`), well- or ill-formed, or not an object."""
    value = json_values()
    row_objects = st.lists(st.dictionaries(st.sampled_from(["x", "y", "z"]), value, max_size=3), max_size=3)
    body: dict[str, Any] = {}
    kind = draw(st.sampled_from(["instances", "inputs", "both", "neither", "not-object"]))
    if kind == "not-object":
        return draw(value)
    if kind in ("instances", "both"):
        body["instances"] = draw(st.one_of(numeric_lists(), st.lists(value, max_size=4), row_objects, value))
    if kind in ("inputs", "both"):
        body["inputs"] = draw(
            st.one_of(numeric_lists(), value, st.dictionaries(st.sampled_from(["x", "y"]), value))
        )
    if draw(st.booleans()):
        body["signature_name"] = draw(
            st.one_of(st.just("serving_default"), st.text(max_size=8), st.integers())
        )
    return body


def _encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bytes a client might send: valid documents, truncations, invalid UTF-8, garbage, big strings."""
    valid = json_documents().map(_encode)
    return st.one_of(
        valid,
        valid.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),  # truncated
        valid.flatmap(lambda b: st.binary(min_size=1, max_size=3).map(lambda junk: b[: len(b) // 2] + junk)),
        st.binary(max_size=64),
        st.integers(1, 200_000).map(lambda n: b'{"instances": ["' + b"a" * n + b'"]}'),
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]).map(
            lambda bad: b'{"instances": ["' + bad + b'"]}'
        ),
        st.sampled_from(['"\\ud800"', '"\\udfff"', '"\\u0000"']).map(
            lambda s: ('{"instances": [' + s + "]}").encode()
        ),
    )


# -- gRPC TensorProtos -------------------------------------------------------------------------------------
_TYPED_FIELDS = {
    "float_val": st.lists(st.floats(width=32), max_size=6),
    "double_val": st.lists(st.floats(), max_size=6),
    "int_val": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=6),
    "int64_val": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6),
    "uint32_val": st.lists(st.integers(0, 2**32 - 1), max_size=6),
    "uint64_val": st.lists(st.integers(0, 2**64 - 1), max_size=6),
    "bool_val": st.lists(st.booleans(), max_size=6),
    "string_val": st.lists(st.binary(max_size=8), max_size=6),
    "half_val": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=6),
    "scomplex_val": st.lists(st.floats(width=32), max_size=6),
    "dcomplex_val": st.lists(st.floats(), max_size=6),
}
_DIM = st.one_of(
    st.integers(0, 4), st.integers(-3, -1), st.sampled_from([2**31, 2**40, 2**62, 2**63 - 1, -(2**63)])
)


@st.composite
def tensor_protos(draw: st.DrawFn) -> Any:
    from clients.protos import messages

    tp = messages().TensorProto()
    tp.dtype = draw(st.one_of(st.sampled_from([row.enum for row in dtypes.ROWS]), st.integers(0, 200)))
    for dim in draw(st.lists(_DIM, max_size=5) | st.lists(st.integers(1, 1), min_size=60, max_size=300)):
        tp.tensor_shape.dim.add(size=dim)
    tp.tensor_shape.unknown_rank = draw(st.booleans())
    if draw(st.booleans()):
        tp.tensor_content = draw(st.binary(max_size=64))
    for field in draw(st.lists(st.sampled_from(sorted(_TYPED_FIELDS)), max_size=3, unique=True)):
        getattr(tp, field).extend(draw(_TYPED_FIELDS[field]))
    return tp
