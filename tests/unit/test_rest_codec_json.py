"""serving.rest.jsonio: rapidjson-compatible parsing and TF Serving's number / string writing rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from serving.rest.debugtext import MAX_DEBUG_BYTES, debug_string
from serving.rest.jsonio import (
    error_body,
    float_texts,
    layout,
    parse_json,
    string_text,
)
from serving.status import InvalidArgument


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("NaN", math.nan),
        ("Inf", math.inf),
        ("Infinity", math.inf),
        ("-Inf", -math.inf),
        ("-Infinity", -math.inf),
    ],
)
def test_non_finite_tokens_are_numbers(token: str, expected: float) -> None:
    doc = parse_json(f'{{"a": [1.5, {token}], "s": "Inf in a string"}}'.encode())
    value = doc["a"][1]
    assert (math.isnan(value) and math.isnan(expected)) or value == expected
    assert doc["s"] == "Inf in a string"


def test_tokens_are_case_sensitive() -> None:
    with pytest.raises(InvalidArgument, match=r"JSON Parse error: Invalid value\. at offset: \d+"):
        parse_json(b'{"a": Nan}')


def test_trailing_bytes_after_top_level_value_are_ignored() -> None:
    assert parse_json(b'{"a": 1} trailing garbage') == {"a": 1}
    assert parse_json(b'  {"a": NaN}}}') == {"a": pytest.approx(math.nan, nan_ok=True)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"   ", "JSON Parse error: The document is empty."),
        (b'{"a": }', "JSON Parse error: Invalid value. at offset: 6"),
        (b'{"a" 1}', "JSON Parse error: Missing a colon after a name of object member. at offset: 5"),
        (b"{1: 2}", "JSON Parse error: Missing a name for object member. at offset: 1"),
        (b'{"a": 1 "b": 2}', "JSON Parse error: Missing a comma or '}' after an object member."),
        (b"[1 2]", "JSON Parse error: Missing a comma or ']' after an array element."),
        (b'{"a": "abc', "JSON Parse error: Missing a closing quotation mark in string."),
        (b'{"a": "\\q"}', "JSON Parse error: Invalid escape character in string."),
        (b'{"a": "\xff"}', "JSON Parse error: Invalid encoding in string."),
        (b'{"a": 1e400}', "JSON Parse error: Number too big to be stored in double."),
    ],
)
def test_parse_errors_use_rapidjson_texts(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_json(body)
    assert message in info.value.message


@pytest.mark.parametrize("depth", [2000, 200_000])
def test_deep_nesting_parses_like_rapidjson(depth: int) -> None:
    doc = parse_json(b'{"a":' + b"[" * depth + b'"x"' + b"]" * depth + b', "b": 1} trailing')
    assert doc["b"] == 1
    inner = doc["a"]
    for _ in range(depth - 1):
        (inner,) = inner
    assert inner == ["x"]


def test_deep_nesting_with_non_finite_tokens_is_a_clean_error() -> None:
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        parse_json(b'{"a":' + b"[" * 5000 + b"NaN" + b"]" * 5000 + b"}")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"),
        (2.5, "2.5"),
        (9000000.0, "9e+06"),
        (0.00003, "3e-05"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (1435774336.0, "1.43577434e+09"),
        (0.123456789, "0.123456791"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
    ],
)
def test_float32_texts(value: float, text: str) -> None:
    assert float_texts(np.array([value], dtype=np.float32)) == [text]


def test_float64_texts_use_17_digits_when_needed() -> None:
    assert float_texts(np.array([0.1, 1 / 3, 100.0], dtype=np.float64)) == [
        "0.1",
        "0.33333333333333331",
        "100.0",
    ]


def test_float_texts_round_trip_exactly() -> None:
    values = np.random.default_rng(1).standard_normal(2000).astype(np.float32) * 1e3
    back = np.array([float(t) for t in float_texts(values)], dtype=np.float32)
    np.testing.assert_array_equal(back, values)


def test_strings_keep_raw_bytes() -> None:
    assert string_text(b"caf\xc3\xa9") == '"café"'
    raw = '{"s":' + string_text(b"\xff\x00") + "}"
    assert raw.encode("utf-8", "surrogateescape") == b'{"s":"\xff\\u0000"}'


def test_nest_shapes() -> None:
    texts = [str(i) for i in range(6)]
    assert layout(texts, (2, 3), 1, 2, False) == ["[[0, 1, 2], [3, 4, 5]]"]
    assert layout(texts, (3,), 2, 2, False) == ["[0, 1, 2]", "[3, 4, 5]"]
    assert layout(texts, (), 6, 2, False) == texts
    assert layout([], (0,), 3, 2, False) == ["[]", "[]", "[]"]
    assert layout([], (2, 0), 1, 2, False) == ["[[], []]"]
    assert layout([], (2, 0), 1, 1, True) == ["[\n        [],\n        []\n    ]"]
    assert layout(texts[:2], (2,), 1, 1, True) == ["[\n        0,\n        1\n    ]"]


def test_debug_string_is_rapidjson_pretty_and_cut_without_marker() -> None:
    # One value may run past the limit; the next event is refused (JsonWriterWithLimit).
    assert debug_string(["x" * 1000, 1]) == '["' + "x" * 1000 + '"'
    cut = debug_string(list(range(1000)))  # 255 bytes, then ", 66": the check comes before each value
    assert cut.endswith(", 65, 66") and len(cut) == MAX_DEBUG_BYTES + 1
    assert debug_string(1.0) == "1.0"
    assert debug_string(1e-7) == "1e-7"
    assert debug_string(1e21) == "1e21"
    assert debug_string(123456.0) == "123456.0"
    assert debug_string({"b64": "aGk="}) == '{\n    "b64": "aGk="\n}'
    assert (
        debug_string({"a": {"b": [1, {}]}, "c": []})
        == '{\n    "a": {\n        "b": [1, {}]\n    },\n    "c": []\n}'
    )
    assert debug_string([1.5, float("nan"), 2]) == "[1.5, "  # the writer cannot write NaN: stops
    assert debug_string({"s": 'q"\\\n\x01é'}) == '{\n    "s": "q\\"\\\\\\n\\u0001é"\n}'


def test_error_body() -> None:
    assert json.loads(error_body('bad "x"')) == {"error": 'bad "x"'}
    assert json.loads(error_body("lone \ud800 surrogate")) == {"error": "lone \ud800 surrogate"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_and_vectorised_float_paths_agree(dtype: type) -> None:
    rng = np.random.default_rng(2)
    values: np.ndarray = np.concatenate(
        [
            rng.standard_normal(100) * 10.0 ** rng.integers(-8, 8, 100),
            [0.0, -0.0, 3.0, 9e6, np.nan, np.inf, -np.inf, 0.1],
        ]
    ).astype(dtype)
    vectorised = float_texts(values)
    one_by_one = [float_texts(values[i : i + 1])[0] for i in range(len(values))]
    assert vectorised == one_by_one
