"""One JSON value -> one numpy tensor of a signature dtype, and numpy tensors -> JSON text.

`tensor_from_json` is the reference conversion with every upstream check and message (`FillTensorProto`,
`AddValueToTensor` in json_tensor.cc): the dense shape comes from the first element at each level, each
list must match it, scalars must sit at the leaf level, and each leaf must fit the dtype.
`fast_tensor_from_json` is the hot path for numeric tensors: numpy builds the array in C and a few
vectorised checks prove it equals what the reference would build; when it cannot prove that it returns
None and the caller falls back to the reference, which then yields the exact error.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np

from serving.dtypes import DType, tf_type_name
from serving.rest.debugtext import debug_string
from serving.rest.jsonio import (
    b64_text,
    float_texts,
    is_b64_object,
    json_type_name,
    string_text,
)
from serving.status import InvalidArgument, ServingError, Unimplemented

# absl's data characters with whitespace among them, then padding (`=` or `.`) with whitespace among it.
_B64 = re.compile(r"([A-Za-z0-9+/ \t\n\v\f\r]*)((?:[=.][=. \t\n\v\f\r]*)?)")
_SPACE = re.compile(r"[ \t\n\v\f\r]+")
# numpy holds at most 64 dimensions (TF allows 254): a deeper JSON tensor value is refused up front.
MAX_RANK = 64


def _type_error(value: Any, dt: DType) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {debug_string(value)} Type: {json_type_name(value)} is not of expected type: {dt.name}"
    )


def absl_base64_unescape(text: str) -> bytes | None:
    """absl::Base64Unescape: standard alphabet, ASCII whitespace anywhere is skipped, then optional
    `=`/`.` padding (none, or exactly what the data length needs); None when that fails."""
    match = _B64.fullmatch(text)
    if match is None:
        return None
    data = _SPACE.sub("", match.group(1))
    padding = _SPACE.sub("", match.group(2))
    left = len(data) % 4
    if left == 1 or (padding and len(padding) != (4 - left) % 4):
        return None
    return base64.b64decode(data + "=" * (-len(data) % 4))


def decode_b64_object(value: Any) -> bytes:
    """`{"b64": "..."}` -> bytes, decoded as absl::Base64Unescape does."""
    if not is_b64_object(value):
        raise InvalidArgument(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    decoded = absl_base64_unescape(value["b64"])
    if decoded is None:
        raise InvalidArgument("Unable to base64 decode")
    return decoded


def _leaf(value: Any, dt: DType) -> Any:
    """One scalar JSON value as a Python value of the dtype (AddValueToTensor)."""
    if type(value) is dict:
        if dt.kind == "string":
            return decode_b64_object(value)
        raise _type_error(value, dt)
    kind = dt.kind
    if kind == "float":
        if type(value) is float:
            return value
        if type(value) is int:
            try:
                return float(value)
            except OverflowError:
                return float("inf") if value > 0 else float("-inf")
    elif kind == "int":
        if type(value) is int and dt.low <= value <= dt.high:
            return value
    elif kind == "bool":
        if type(value) is bool:
            return value
    elif kind == "string":
        if type(value) is str:
            return value.encode("utf-8", "surrogatepass")
    else:
        raise Unimplemented(f"Conversion of JSON Value: {debug_string(value)} to type: {dt.name}")
    raise _type_error(value, dt)


def _too_deep() -> InvalidArgument:
    return InvalidArgument(
        f"JSON Parse error: Document nested too deeply (limit {MAX_RANK} levels in a tensor value)."
    )


def dense_shape(value: Any) -> list[int]:
    """Shape implied by the first element at each nesting level (GetDenseTensorShape)."""
    shape: list[int] = []
    while type(value) is list:
        if len(shape) == MAX_RANK:
            raise _too_deep()
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dt: DType, out: list[Any]) -> None:
    rank = len(shape)
    if type(value) is not list:
        if level != rank:
            raise InvalidArgument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM."
                f" Expected at level: {rank}"
            )
        out.append(_leaf(value, dt))
        return
    if level >= rank:
        raise InvalidArgument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise InvalidArgument(
            f"Encountered list at unexpected size: {len(value)} at level: {level}"
            f" expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dt, out)


def leaves(value: Any, dt: DType) -> tuple[list[Any], list[int]]:
    """All converted leaf values (C order) and the dense shape of one JSON tensor value."""
    shape = dense_shape(value)
    out: list[Any] = []
    _fill(value, 0, shape, dt, out)
    return out, shape


def array_of(values: list[Any], dt: DType, shape: list[int]) -> np.ndarray:
    """Build the numpy tensor from converted leaf values."""
    if len(shape) > MAX_RANK:
        raise _too_deep()
    if dt.kind == "string":
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr.reshape(shape)
    if dt.kind == "int" and dt.numpy.itemsize < 4:
        return np.array(values, dtype=np.int64).astype(dt.numpy).reshape(shape)
    if dt.kind == "unsupported":
        raise Unimplemented(f"Conversion of JSON Value: [] to type: {dt.name}")
    with np.errstate(over="ignore"):
        return (
            np.array(values, dtype=np.float64 if dt.kind == "float" else dt.numpy)
            .astype(dt.numpy, copy=False)
            .reshape(shape)
        )


def tensor_from_json(value: Any, dt: DType) -> np.ndarray:
    """Reference conversion of one JSON value into a tensor of dtype `dt` (raises upstream errors)."""
    values, shape = leaves(value, dt)
    return array_of(values, dt, shape)


def fast_tensor_from_json(value: Any, dt: DType, numbers_only: bool) -> np.ndarray | None:
    """numpy's C conversion when it provably matches the reference; None when unsure.

    `numbers_only` means the request body holds no `true`/`false` literal, so a numeric numpy result
    cannot hide a bool (numpy would silently turn [1, true] into [1, 1]).
    """
    if dt.kind in ("string", "unsupported") or (dt.kind != "bool" and not numbers_only):
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = arr.dtype.kind
    if dt.kind == "bool":
        return arr if kind == "b" else None
    if dt.kind == "float":
        if kind == "f":
            if arr.dtype == dt.numpy:
                return arr
            with np.errstate(over="ignore"):  # beyond float32 range -> +-inf, as upstream
                return arr.astype(dt.numpy)
        return arr.astype(dt.numpy) if kind in "iu" else None
    if kind not in "iu":
        return None
    info = np.iinfo(arr.dtype)
    in_range = (info.min >= dt.low and info.max <= dt.high) or not arr.size
    if not in_range and (int(arr.min()) < dt.low or int(arr.max()) > dt.high):
        return None
    return arr if arr.dtype == dt.numpy else arr.astype(dt.numpy)


# ---- numpy -> JSON text -------------------------------------------------------------------------------


def element_texts(alias: str, arr: np.ndarray, b64_level: int = 0) -> list[str]:
    """JSON text of every element (C order) of an output tensor, per json_tensor.cc's writer;
    `{"b64": ...}` objects (aliases ending in `_bytes`) are laid out for `b64_level` open containers."""
    flat = arr.reshape(-1)
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f" and size in (4, 8):
        return float_texts(flat)
    if kind == "i" or (kind == "u" and size in (1, 4, 8)):
        return list(map(str, flat.tolist()))
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "OSU":
        raw = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist()]
        if alias.endswith("_bytes"):
            return [b64_text(v, b64_level) for v in raw]
        return list(map(string_text, raw))
    name = tf_type_name(arr)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {name}")


def shape_string(shape: list[int] | tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def wrapped(err: ServingError) -> str:
    """status.ToString() of an inner error, as upstream nests it into row-format messages."""
    return f"{err.code.name}: {err.message}"
