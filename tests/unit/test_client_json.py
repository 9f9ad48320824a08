"""The REST wire format: request bodies the server accepts, responses decoded with their dtypes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from clients import _json
from clients._request import named_arrays
from clients.errors import Code, Internal
from serving.types import State, TensorInfo

F32 = TensorInfo("y:0", "DT_FLOAT", (-1, 1))


def body(inputs: object, fmt: str, signature: str | None = None) -> dict[str, object]:
    arrays, named = named_arrays(inputs)  # type: ignore[arg-type]
    return json.loads(_json.predict_body(arrays, named, fmt, signature))  # type: ignore[arg-type]


def test_row_body_is_a_list_of_objects_for_named_inputs() -> None:
    got = body(
        {"feature": np.ones((2, 2), np.float32), "user_id": np.array([7, 8])}, "row", "serving_default"
    )
    assert got == {
        "signature_name": "serving_default",
        "instances": [{"feature": [1.0, 1.0], "user_id": 7}, {"feature": [1.0, 1.0], "user_id": 8}],
    }


def test_row_body_for_a_bare_value_and_columnar_bodies() -> None:
    assert body([[1.0], [2.0]], "row") == {"instances": [[1.0], [2.0]]}
    assert body({"a": 3.0, "b": [1, 2]}, "columnar") == {"inputs": {"a": 3.0, "b": [1, 2]}}
    assert body(5, "columnar") == {"inputs": 5}


def test_float32_values_are_written_shortest_and_round_trip() -> None:
    values = np.array([0.1, 1 / 3, 3e-5, 9e6], np.float32)
    raw = _json.predict_body(*named_arrays({"x": values}), "columnar", None)
    assert b"0.1," in raw
    assert np.array_equal(np.asarray(json.loads(raw)["inputs"]["x"], np.float32), values)


def test_bytes_go_out_as_b64_objects() -> None:
    got = body({"inputs": [b"\x00\xff", "é"]}, "row")
    assert got == {"instances": [{"inputs": {"b64": "AP8="}}, {"inputs": {"b64": "w6k="}}]}


def test_non_finite_floats_use_the_tokens_tf_serving_parses() -> None:
    raw = _json.predict_body(*named_arrays([[float("nan")], [float("inf")], [-math.inf]]), "row", None)
    assert raw == b'{"instances":[[NaN],[Infinity],[-Infinity]]}'


def test_examples_body_keeps_floats_decimal_and_ints_integer() -> None:
    raw = _json.examples_body([{"x": 2.0, "ids": [1, 2], "b": b"xy"}], {"c": "z"}, "regression")
    assert json.loads(raw) == {
        "examples": [{"x": [2.0], "ids": [1, 2], "b": [{"b64": "eHk="}]}],
        "context": {"c": [{"b64": "eg=="}]},
        "signature_name": "regression",
    }
    assert b'"x":[2.0]' in raw  # a float feature must carry its decimal point (else int64_list)


def test_decode_row_single_output_uses_the_signature_alias_and_dtype() -> None:
    out = _json.decode_predict(_json.loads(b'{"predictions": [[2.5], [NaN]]}'), "row", {"y": F32})
    assert list(out) == ["y"] and out["y"].dtype == np.float32 and out["y"].shape == (2, 1)
    assert math.isnan(out["y"][1, 0])


def test_decode_row_multi_output_transposes_rows() -> None:
    outputs = {
        "classes": TensorInfo("c", "DT_STRING", (-1, 2)),
        "scores": TensorInfo("s", "DT_FLOAT", (-1, 2)),
    }
    payload = {"predictions": [{"classes": ["0", "1"], "scores": [0.25, 0.75]}] * 3}
    out = _json.decode_predict(payload, "row", outputs)
    assert out["classes"].dtype == object and out["classes"][0].tolist() == [b"0", b"1"]
    assert out["scores"].dtype == np.float32 and out["scores"].shape == (3, 2)


def test_decode_columnar_and_b64_outputs() -> None:
    outputs = {"a_bytes": TensorInfo("a", "DT_STRING", (-1,)), "n": TensorInfo("n", "DT_INT64", (-1,))}
    payload = {"outputs": {"a_bytes": [{"b64": "AP8="}], "n": [2**62]}}
    out = _json.decode_predict(payload, "columnar", outputs)
    assert out["a_bytes"].tolist() == [b"\x00\xff"]
    assert out["n"].dtype == np.int64 and out["n"][0] == 2**62


def test_decode_without_signature_falls_back_to_the_response_shape() -> None:
    out = _json.decode_predict({"outputs": {"a": [1], "b": ["x"]}}, "columnar", None)
    assert out["b"].tolist() == [b"x"]
    with pytest.raises(Internal, match="no 'predictions' key"):
        _json.decode_predict({"outputs": []}, "row", None)


def test_classify_and_regress_results() -> None:
    got = _json.decode_classify({"results": [[["0", 0.1], ["1", 0.9]]]})
    assert got == [[("0", float(np.float32(0.1))), ("1", float(np.float32(0.9)))]]
    reg = _json.decode_regress({"results": [3.0, 1.5]})
    assert reg.dtype == np.float32 and reg.tolist() == [3.0, 1.5]
    with pytest.raises(Internal):
        _json.decode_classify({"result": []})


def test_error_message_reads_the_error_key_or_the_body() -> None:
    assert _json.error_message(404, b'{\n  "error": "Servable not found"\n}') == "Servable not found"
    assert _json.error_message(404, b"<html>Not Found</html>") == "<html>Not Found</html>"
    assert _json.error_message(400, b"") == "HTTP 400 with an empty body"


def test_status_shape() -> None:
    got = _json.decode_status(
        {
            "model_version_status": [
                {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
                {
                    "version": "1",
                    "state": "END",
                    "status": {"error_code": "NOT_FOUND", "error_message": "gone"},
                },
            ]
        }
    )
    assert [(v.version, v.state, v.error_code, v.error_message) for v in got] == [
        (2, State.AVAILABLE, Code.OK, ""),
        (1, State.END, Code.NOT_FOUND, "gone"),
    ]


def test_metadata_shape() -> None:
    dim = [{"size": "-1", "name": ""}, {"size": "1", "name": ""}]
    tensor = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dim, "unknown_rank": False}, "name": "x:0"}
    meta = _json.decode_metadata(
        {
            "model_spec": {"name": "linear", "signature_name": "", "version": "3"},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        "serving_default": {
                            "inputs": {"x": tensor},
                            "outputs": {"y": {**tensor, "name": "y:0"}},
                            "method_name": "tensorflow/serving/predict",
                        },
                        "__saved_model_init_op": {"outputs": {"o": {"dtype": "DT_INVALID", "name": "n"}}},
                    }
                }
            },
        }
    )
    assert meta.model == "linear" and meta.version == 3
    sig = meta.signatures["serving_default"]
    assert sig.inputs["x"] == TensorInfo("x:0", "DT_FLOAT", (-1, 1))
    assert meta.signatures["__saved_model_init_op"].outputs["o"].shape == ()
    assert meta.to_json()["signatures"]["serving_default"]["outputs"]["y"]["shape"] == [-1, 1]
    with pytest.raises(Internal, match="lacks model_spec"):
        _json.decode_metadata({"metadata": {}})
