"""Transport-neutral request preparation: inputs -> numpy, the REST row/columnar rule, Example features.

Pure functions used by both clients; errors are `InvalidArgument` naming the input or feature at fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from clients._types import Example, FeatureValue, Inputs, InputValue
from clients.errors import InvalidArgument
from serving.dtypes import numpy_dtypes

Format = Literal["row", "columnar"]
FeatureKind = Literal["float", "int64", "bytes"]

# TF DataType enum name -> numpy dtype (object = numpy array of Python bytes), from the one dtype table.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = numpy_dtypes()


def check_spec(model: str, version: int | None, label: str | None) -> None:
    """Reject what no server could serve before sending anything."""
    if not model:
        raise InvalidArgument("model name is empty")
    if version is not None and label is not None:
        raise InvalidArgument(f"give a version or a label, not both (version={version}, label={label!r})")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise InvalidArgument(f"version must be a non-negative integer, got {version!r}")
    if label is not None and not label:
        raise InvalidArgument("label is empty")


def _to_bytes(value: object, where: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, bytes):  # np.bytes_
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidArgument(f"{where}: mixes strings with {type(value).__name__} values")


def to_array(value: InputValue, where: str, dtype: np.dtype[Any] | None = None) -> np.ndarray:
    """A numpy array for one input. Text becomes an object array of bytes (DT_STRING).

    numpy arrays keep their dtype (the caller chose it); lists and scalars are converted to `dtype` (the
    signature's, when the client knows it) if they fit, else numpy's natural dtype so the server reports
    the mismatch.
    """
    if isinstance(value, np.ndarray):
        array = value
    else:
        try:
            array = np.asarray(value)
        except UnicodeError:  # bytes that are not ASCII next to str
            array = np.asarray(value, dtype=object)
        except ValueError as error:
            raise InvalidArgument(f"{where}: not a rectangular array ({error})") from None
        if array.dtype.kind in "SU":  # keep exact bytes (numpy 'S' drops trailing NULs), catch mixes
            array = np.asarray(value, dtype=object)
        if dtype is not None and dtype != np.dtype(object) and array.dtype.kind in "biuf":
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                array = np.asarray(value, dtype=dtype)
    if array.dtype.kind in "OSU":
        if (
            array.dtype.kind == "O"
            and array.size
            and not all(isinstance(v, bytes | str | np.bytes_ | np.str_) for v in array.flat)
        ):
            raise InvalidArgument(f"{where}: ragged or mixed values; give a rectangular array of one type")
        flat = [_to_bytes(v, where) for v in array.flat]
        out = np.empty(array.shape, dtype=object)
        if flat:
            out.reshape(-1)[:] = flat
        return out
    if array.dtype.kind not in "biufc":
        raise InvalidArgument(f"{where}: unsupported value type {array.dtype}")
    return array


def named_arrays(
    inputs: Inputs, dtypes: Mapping[str, np.dtype[Any]] | None = None
) -> tuple[dict[str, np.ndarray], bool]:
    """(alias -> array, named?) where named=False means one bare value under the alias ''."""
    if isinstance(inputs, Mapping):
        if not inputs:
            raise InvalidArgument("inputs is an empty dict; give at least one named input")
        arrays = {
            str(alias): to_array(value, f"input {alias!r}", (dtypes or {}).get(str(alias)))
            for alias, value in inputs.items()
        }
        return arrays, True
    dtype = next(iter(dtypes.values())) if dtypes and len(dtypes) == 1 else None
    return {"": to_array(inputs, "inputs", dtype)}, False


def choose_format(arrays: Mapping[str, np.ndarray]) -> Format:
    """The REST body format (the rule, documented in the README):

    row (`instances`) when every input has a batch dimension (rank >= 1) and all share one non-zero
    0th dimension, i.e. the request is a list of rows; columnar (`inputs`) otherwise: a scalar input,
    inputs whose 0th dimensions differ, or an empty batch (row format cannot express any of these).
    """
    batch_sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
    if None in batch_sizes or len(batch_sizes) != 1 or 0 in batch_sizes:
        return "columnar"
    return "row"


def _feature_kind(value: object, where: str) -> FeatureKind:
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return "int64"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, bytes | str | np.bytes_ | np.str_):
        return "bytes"
    raise InvalidArgument(f"{where}: unsupported feature value of type {type(value).__name__}")


def feature_values(value: FeatureValue, where: str) -> tuple[FeatureKind, list[Any]]:
    """One tf.train.Feature: (kind, flat Python values). floats -> float_list, ints/bools -> int64_list,
    bytes/str -> bytes_list (str as UTF-8); a list must hold one kind."""
    if isinstance(value, np.ndarray):
        kind_code = value.dtype.kind
        if kind_code == "f":
            return "float", [float(v) for v in value.ravel().tolist()]
        if kind_code in "iub":
            return "int64", [int(v) for v in value.ravel().tolist()]
        value = value.ravel().tolist()
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = list(value)
    else:
        items = [value]
    if not items:
        raise InvalidArgument(f"{where}: empty feature list (its type cannot be inferred); leave it out")
    kinds = {_feature_kind(v, where) for v in items}
    if len(kinds) != 1:
        raise InvalidArgument(f"{where}: one feature must not mix kinds, got {sorted(kinds)}")
    kind = kinds.pop()
    if kind == "float":
        return kind, [float(v) for v in items]
    if kind == "int64":
        return kind, [int(v) for v in items]
    return kind, [_to_bytes(v, where) for v in items]


def example_features(example: Example, where: str) -> dict[str, tuple[FeatureKind, list[Any]]]:
    if not isinstance(example, Mapping):
        raise InvalidArgument(f"{where}: an example must be a dict of feature name -> value(s)")
    return {str(k): feature_values(v, f"{where} feature {k!r}") for k, v in example.items()}


def check_examples(examples: Sequence[Example]) -> None:
    if isinstance(examples, Mapping) or not isinstance(examples, Sequence):
        raise InvalidArgument("examples must be a list of dicts (one dict per tf.train.Example)")
    if not examples:
        raise InvalidArgument("examples is empty; give at least one example")
