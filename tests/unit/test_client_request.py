"""Pure request preparation shared by both clients: inputs -> numpy, the row/columnar rule, features."""

from __future__ import annotations

import numpy as np
import pytest

from clients._request import (
    check_examples,
    check_spec,
    choose_format,
    example_features,
    feature_values,
    named_arrays,
    to_array,
)
from clients._types import USE_CLIENT_DEFAULT, resolve_timeout
from clients.errors import InvalidArgument


def test_lists_take_the_signature_dtype_and_numpy_arrays_keep_theirs() -> None:
    f32 = np.dtype(np.float32)
    assert to_array([[1, 2]], "x", f32).dtype == np.float32
    assert to_array(np.array([[1.0]]), "x", f32).dtype == np.float64  # the caller's explicit choice
    assert to_array(3, "x", np.dtype(np.int64)).dtype == np.int64
    assert to_array([1.5], "x").dtype == np.float64  # no signature known: numpy's natural dtype


def test_text_becomes_an_object_array_of_bytes() -> None:
    out = to_array([["a", b"b"], ["\u00e9", np.bytes_(b"d")]], "s")
    assert out.dtype == object and out.shape == (2, 2)
    assert out.tolist() == [[b"a", b"b"], ["é".encode(), b"d"]]
    assert all(type(v) is bytes for v in out.flat)
    scalar = to_array("hi", "s")
    assert scalar.shape == () and scalar.item() == b"hi"


@pytest.mark.parametrize(
    ("value", "message"),
    [([[1.0, 2.0], [3.0]], "not a rectangular array"), ([b"a", 1], "mixed values"), ([None], "x")],
)
def test_bad_values_name_the_input(value: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match="input 'x'") as info:
        named_arrays({"x": value})  # type: ignore[dict-item]
    assert message in info.value.message


def test_named_and_bare_inputs() -> None:
    arrays, named = named_arrays({"a": [1.0], "b": np.zeros((1, 2))})
    assert named and list(arrays) == ["a", "b"]
    arrays, named = named_arrays([[1.0]], {"x": np.dtype(np.float32)})
    assert not named and arrays[""].dtype == np.float32
    with pytest.raises(InvalidArgument, match="empty dict"):
        named_arrays({})


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ({"x": (3, 1)}, "row"),
        ({"a": (2, 121), "b": (2,), "c": (2,)}, "row"),
        ({"a": (2, 1), "b": (3,)}, "columnar"),  # 0th dims differ
        ({"a": (), "b": (2,)}, "columnar"),  # a scalar
        ({"x": ()}, "columnar"),
        ({"x": (0, 1)}, "columnar"),  # an empty batch: `instances: []` is an error upstream
    ],
)
def test_row_or_columnar_rule(shapes: dict[str, tuple[int, ...]], expected: str) -> None:
    assert choose_format({k: np.zeros(s) for k, s in shapes.items()}) == expected


def test_features_by_python_type() -> None:
    assert feature_values(2.0, "f") == ("float", [2.0])
    assert feature_values(80, "f") == ("int64", [80])  # an int stays int64, as TF Serving's JSON rule
    assert feature_values(True, "f") == ("int64", [1])
    assert feature_values("ab", "f") == ("bytes", [b"ab"])
    assert feature_values([b"a", "b"], "f") == ("bytes", [b"a", b"b"])
    assert feature_values(np.array([1.5, 2.5], np.float32), "f") == ("float", [1.5, 2.5])
    assert feature_values(np.array([[1, 2]], np.int64), "f") == ("int64", [1, 2])
    assert example_features({"x": 1.0, "id": [3, 4]}, "example 0") == {
        "x": ("float", [1.0]),
        "id": ("int64", [3, 4]),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [([1.0, 2], "must not mix kinds"), ([], "empty feature list"), ({"a": 1}, "unsupported feature value")],
)
def test_bad_features_name_example_and_feature(value: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match="example 3 feature 'f'") as info:
        example_features({"f": value}, "example 3")  # type: ignore[dict-item]
    assert message in info.value.message


def test_examples_and_spec_checks() -> None:
    with pytest.raises(InvalidArgument, match="empty"):
        check_examples([])
    with pytest.raises(InvalidArgument, match="list of dicts"):
        check_examples({"x": 1.0})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not both"):
        check_spec("m", 1, "stable")
    with pytest.raises(InvalidArgument, match="non-negative"):
        check_spec("m", -1, None)
    with pytest.raises(InvalidArgument, match="model name is empty"):
        check_spec("", None, None)
    check_spec("m", 0, None)  # version 0 is addressable (Int64Value)


def test_timeout_sentinel() -> None:
    assert resolve_timeout(USE_CLIENT_DEFAULT, 5.0) == 5.0
    assert resolve_timeout(None, 5.0) is None
    assert resolve_timeout(0.5, 5.0) == 0.5
    assert repr(USE_CLIENT_DEFAULT) == "USE_CLIENT_DEFAULT"
