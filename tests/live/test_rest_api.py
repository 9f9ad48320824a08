"""REST API of a live `tfkit serve` (shared session server: CORS and monitoring on): every endpoint with
linear and ctr, and the REST error rows of the contract (§1) that the kit's models can trigger."""

from __future__ import annotations

import base64
import gzip
import json
import math
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.support.server import LiveServer

pytestmark = pytest.mark.live


def _post(server: LiveServer, path: str, body: Any, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return requests.post(server.rest_url + path, data=data, timeout=60, **kwargs)


def _get(server: LiveServer, path: str) -> requests.Response:
    return requests.get(server.rest_url + path, timeout=30)


def _error(resp: requests.Response) -> str:
    assert resp.headers["content-type"].startswith("application/json")
    return str(resp.json()["error"])


@pytest.fixture(scope="module")
def linear_wb(artifacts: Path) -> tuple[float, float]:
    metrics = json.loads((artifacts / "manifest.json").read_text())["models"]["linear"]["metrics"]
    return float(metrics["w"]), float(metrics["b"])


@pytest.fixture(scope="module")
def ctr_rows(artifacts: Path) -> dict[str, np.ndarray]:
    from export.samples import sample_inputs

    return sample_inputs("ctr", artifacts, n=16, seed=3)


# ---- status and metadata ------------------------------------------------------------------------------


def test_status(live_server: LiveServer) -> None:
    for model in ("linear", "ctr"):
        resp = _get(live_server, f"/v1/models/{model}")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        (entry,) = resp.json()["model_version_status"]
        assert isinstance(entry["version"], str) and entry["state"] == "AVAILABLE"
        assert entry["status"] == {"error_code": "OK", "error_message": ""}
        version = entry["version"]
        assert _get(live_server, f"/v1/models/{model}/versions/{version}").json() == resp.json()
        assert _get(live_server, f"/v1/models/{model}/labels/whatever").json() == resp.json()  # label ignored


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/linear/versions/999", 404, "Could not find version 999 of model linear"),
        ("/v1/models", 400, "Missing model name in request."),
        ("/v1/models/ctr/versions/999/metadata", 404, "Servable not found for request: Specific(ctr, 999)"),
        ("/v1/models/ctr/labels/nolabel/metadata", 400, "Unrecognized servable version label: nolabel"),
        ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models/debug/model_name", 400, "Malformed request: GET /v1/models/debug/model_name"),
        ("/v1/models/ctr:predict", 400, "Malformed request: GET /v1/models/ctr:predict"),
    ],
)
def test_get_errors(live_server: LiveServer, path: str, status: int, message: str) -> None:
    resp = _get(live_server, path)
    assert resp.status_code == status
    assert message in _error(resp)


def test_metadata(live_server: LiveServer) -> None:
    doc = _get(live_server, "/v1/models/ctr/metadata").json()
    assert doc["model_spec"]["name"] == "ctr" and isinstance(doc["model_spec"]["version"], str)
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classification", "predict_examples"} <= set(sigs)
    inputs = sigs["serving_default"]["inputs"]
    assert {k: v["dtype"] for k, v in inputs.items()} == {
        "feature": "DT_FLOAT",
        "user_id": "DT_INT64",
        "article_id": "DT_INT64",
    }
    assert inputs["feature"]["tensor_shape"]["dim"][1]["size"] == "121"


# ---- predict ------------------------------------------------------------------------------------------


def test_predict_linear_row_and_columnar(live_server: LiveServer, linear_wb: tuple[float, float]) -> None:
    w, b = linear_wb
    row = _post(live_server, "/v1/models/linear:predict", {"instances": [[1.0], [2.0], [5.0]]})
    assert row.status_code == 200 and row.headers["content-type"] == "application/json"
    values = [v[0] for v in row.json()["predictions"]]
    assert values == pytest.approx([w * x + b for x in (1.0, 2.0, 5.0)], abs=1e-3)
    col = _post(live_server, "/v1/models/linear/versions/1:predict", {"inputs": [[1.0], [2.0], [5.0]]})
    assert col.json() == {"outputs": row.json()["predictions"]}


def test_predict_non_finite_tokens(live_server: LiveServer) -> None:
    resp = _post(live_server, "/v1/models/linear:predict", b'{"instances": [[NaN], [Infinity]]}')
    assert resp.status_code == 200
    assert b"NaN" in resp.content
    values = json.loads(resp.text)["predictions"]  # Python's json accepts the tokens
    assert math.isnan(values[0][0]) and values[1][0] == math.inf


def test_predict_ctr_formats_agree(live_server: LiveServer, ctr_rows: dict[str, np.ndarray]) -> None:
    instances = [
        {"feature": ctr_rows["feature"][i].tolist(), "user_id": int(u), "article_id": int(a)}
        for i, (u, a) in enumerate(zip(ctr_rows["user_id"], ctr_rows["article_id"], strict=True))
    ]
    row = _post(live_server, "/v1/models/ctr:predict", {"instances": instances})
    assert row.status_code == 200, row.text
    predictions = np.array(row.json()["predictions"])
    assert predictions.shape == (16, 1) and ((predictions > 0) & (predictions < 1)).all()
    columns = {name: arr.tolist() for name, arr in ctr_rows.items()}
    col = _post(
        live_server, "/v1/models/ctr:predict", {"signature_name": "serving_default", "inputs": columns}
    )
    np.testing.assert_array_equal(np.array(col.json()["outputs"]), predictions)


def test_gzip_request_body(live_server: LiveServer) -> None:
    body = gzip.compress(json.dumps({"instances": [[1.0]]}).encode())
    resp = _post(live_server, "/v1/models/linear:predict", body, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 200 and len(resp.json()["predictions"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/models/linear:predict", b"{bad", 400, "JSON Parse error: "),
        ("/v1/models/nope:predict", b"{bad", 400, "JSON Parse error: "),  # parse before resolution
        ("/v1/models/linear:predict", b"", 400, "JSON Parse error: The document is empty"),
        ("/v1/models/linear:predict", b"[1]", 400, "Is not object"),
        (
            "/v1/models/nope:predict",
            {"instances": [[1.0]]},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        ("/v1/models/linear/versions/9:predict", {"instances": [[1.0]]}, 404, "Specific(linear, 9)"),
        (
            "/v1/models/linear/labels/canary:predict",
            {"instances": [[1.0]]},
            400,
            "Unrecognized servable version label: canary",
        ),
        (
            "/v1/models/linear:predict",
            {"signature_name": "nope", "instances": [[1.0]]},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            "/v1/models/linear:predict",
            {"signature_name": 3, "instances": [[1.0]]},
            400,
            "'signature_name' key must be a string value.",
        ),
        (
            "/v1/models/linear:predict",
            {"instances": [["a"]]},
            400,
            "Type: String is not of expected type: float",
        ),
        (
            "/v1/models/linear:predict",
            {"instances": [[1.0]], "inputs": [[1.0]]},
            400,
            "expecting only one of 'inputs' or 'instances' keys to exist",
        ),
        ("/v1/models/linear:predict", {"nothing": 1}, 400, "Missing 'inputs' or 'instances' key"),
        ("/v1/models/ctr:predict", {"instances": [[1.0]]}, 400, "instances is a plain list"),
        (
            "/v1/models/ctr:predict",
            {"inputs": {"feature": [[0.0] * 121], "user_id": [1]}},
            400,
            "Missing named input: article_id in 'inputs' object.",
        ),
        (
            "/v1/models/ctr:predict",
            {"inputs": {"feature": [[0.0] * 3], "user_id": [1], "article_id": [1]}},
            400,
            "",
        ),  # wrong shape vs the model: the runtime's own INVALID_ARGUMENT text
        (
            "/v1/models/linear:PREDICT",
            {"instances": [[1.0]]},
            400,
            "Malformed request: POST /v1/models/linear:PREDICT",
        ),
        ("/v1/models/linear/metadata", {"instances": [[1.0]]}, 400, "Malformed request: POST"),
    ],
)
def test_predict_errors(live_server: LiveServer, path: str, body: Any, status: int, message: str) -> None:
    resp = _post(live_server, path, body)
    assert resp.status_code == status, resp.text
    assert message in _error(resp)


def test_version_overflow_is_400_with_empty_body(live_server: LiveServer) -> None:
    resp = _post(
        live_server, "/v1/models/linear/versions/99999999999999999999:predict", {"instances": [[1.0]]}
    )
    assert resp.status_code == 400 and resp.content == b""


def test_other_methods_are_malformed(live_server: LiveServer) -> None:
    resp = requests.put(live_server.rest_url + "/v1/models/linear", timeout=30)
    assert resp.status_code == 400 and "Malformed request: PUT /v1/models/linear" in _error(resp)


def test_paths_outside_v1_are_html_404(live_server: LiveServer) -> None:
    resp = _get(live_server, "/healthz")
    assert resp.status_code == 404 and not resp.headers["content-type"].startswith("application/json")


# ---- URL grammar (http_rest_api_util.cc ParseModelInfo over evhttp_request.cc's path_and_query) ---------


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        # The query is part of the matched path: the POST regex must end in the verb.
        (
            "POST",
            "/v1/models/linear:predict?x=1",
            400,
            "Malformed request: POST /v1/models/linear:predict?x=1",
        ),
        # ... and a GET's model name takes the query with it ([^/:]+).
        ("GET", "/v1/models/linear?x=1", 404, "Could not find any versions of model linear?x=1"),
        (
            "GET",
            "/v1/models/linear/metadata?x=1",
            400,
            "Malformed request: GET /v1/models/linear/metadata?x=1",
        ),
        # No trailing slash in either grammar.
        ("GET", "/v1/models/linear/", 400, "Malformed request: GET /v1/models/linear/"),
        ("POST", "/v1/models/linear/:predict", 400, "Malformed request: POST /v1/models/linear/:predict"),
        # The regex is case-insensitive but the verb is compared as captured.
        ("POST", "/v1/models/linear:PREDICT", 400, "Malformed request: POST /v1/models/linear:PREDICT"),
        ("POST", "/v1/models/linear/versions/1/labels/x:predict", 400, "Malformed request: POST "),
        ("DELETE", "/v1/models/linear", 400, "Malformed request: DELETE /v1/models/linear"),
        ("POST", "/v1/models/linear", 400, "Malformed request: POST /v1/models/linear"),
        ("GET", "/v1/models/", 400, "Malformed request: GET /v1/models/"),
        ("GET", "/v1/models/linear/labels/", 400, "Malformed request: GET /v1/models/linear/labels/"),
        # Percent-encoded names and labels are decoded after matching (curl_easy_unescape).
        ("GET", "/v1/models/no%70e", 404, "Could not find any versions of model nope"),
    ],
)
def test_url_grammar(live_server: LiveServer, method: str, path: str, status: int, message: str) -> None:
    resp = requests.request(method, live_server.rest_url + path, data=b"{}", timeout=30)
    assert resp.status_code == status, resp.text
    assert message in _error(resp)


def test_url_grammar_accepted_forms(live_server: LiveServer) -> None:
    """Case-insensitive prefix and subresource; `/METADATA` is not `metadata`, so it is a status request."""
    assert _get(live_server, "/V1/MODELS/linear").json()["model_version_status"]
    assert "model_version_status" in _get(live_server, "/v1/models/linear/METADATA").json()
    assert "metadata" in _get(live_server, "/v1/models/linear/metadata").json()
    resp = _post(live_server, "/V1/Models/linear:predict", {"instances": [[1.0]]})
    assert resp.status_code == 200, resp.text


def test_metrics_path_with_a_query_is_upstreams_400(live_server: LiveServer) -> None:
    """http_server.cc ProcessPrometheusRequest: found by path, then uri_path() (with query) must equal it."""
    resp = _get(live_server, "/monitoring/prometheus/metrics?x=1")
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/plain")
    assert resp.text == (
        "Unexpected path: /monitoring/prometheus/metrics?x=1. Should be /monitoring/prometheus/metrics"
    )


# ---- classify / regress -------------------------------------------------------------------------------


def _ctr_example_json(serialized: bytes) -> dict[str, Any]:
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(serialized).features.feature
    return {
        "feature": {"b64": base64.b64encode(features["feature"].bytes_list.value[0]).decode()},
        "user_id": int(features["user_id"].int64_list.value[0]),
        "article_id": int(features["article_id"].int64_list.value[0]),
    }


def test_classify_ctr(live_server: LiveServer, artifacts: Path) -> None:
    from export.samples import sample_examples

    examples = [_ctr_example_json(e) for e in sample_examples(artifacts, n=4, seed=5)]
    resp = _post(
        live_server, "/v1/models/ctr:classify", {"signature_name": "classification", "examples": examples}
    )
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert len(results) == 4
    for classes in results:
        assert [label for label, _ in classes] == ["0", "1"]
        assert sum(score for _, score in classes) == pytest.approx(1.0, abs=1e-5)
    # the same examples through predict_examples give p = score of class "1"
    predict = _post(
        live_server,
        "/v1/models/ctr:predict",
        {
            "signature_name": "predict_examples",
            "instances": [
                {"b64": base64.b64encode(e).decode()} for e in sample_examples(artifacts, n=4, seed=5)
            ],
        },
    )
    probabilities = [row[0] for row in predict.json()["predictions"]]
    assert probabilities == pytest.approx([classes[1][1] for classes in results], abs=1e-6)


def test_regress_linear_with_context(live_server: LiveServer, linear_wb: tuple[float, float]) -> None:
    w, b = linear_wb
    resp = _post(
        live_server,
        "/v1/models/linear:regress",
        {"signature_name": "regression", "examples": [{"x": 2.0}, {"x": -1.5}]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"] == pytest.approx([w * 2.0 + b, w * -1.5 + b], abs=1e-3)
    ctx = _post(
        live_server,
        "/v1/models/linear:regress",
        {"signature_name": "regression", "context": {"x": 4.0}, "examples": [{}]},
    )
    assert ctx.json()["results"] == pytest.approx([w * 4.0 + b], abs=1e-3)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/models/linear:regress",
            {"signature_name": "regression"},
            "When method is classify, key 'examples' is expected and was not found",
        ),
        (
            "/v1/models/linear:regress",
            {"signature_name": "regression", "examples": []},
            "'examples' value is an empty array",
        ),
        (
            "/v1/models/linear:regress",
            {"signature_name": "nope", "examples": [{"x": 1.0}]},
            "No signature was found with the name: nope",
        ),
        (
            "/v1/models/ctr:classify",
            {"signature_name": "classification", "examples": [{"user_id": [1, 2.5]}]},
            "Unexpected element type in feature: user_id expecting type: int64",
        ),
    ],
)
def test_examples_errors(live_server: LiveServer, path: str, body: Any, message: str) -> None:
    resp = _post(live_server, path, body)
    assert resp.status_code == 400
    assert message in _error(resp)


# ---- hostile bodies, CORS, monitoring -----------------------------------------------------------------


def test_deeply_nested_and_huge_bodies_are_400_and_server_keeps_serving(live_server: LiveServer) -> None:
    deep = b'{"instances": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    resp = _post(live_server, "/v1/models/linear:predict", deep)
    assert resp.status_code == 400 and "JSON Parse error" in _error(resp)
    with socket.create_connection(("127.0.0.1", live_server.rest_port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/models/linear:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999999\r\n\r\n{"
        )
        reply = b""
        while b"maximum" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"larger than the maximum" in reply
    assert _post(live_server, "/v1/models/linear:predict", {"instances": [[1.0]]}).status_code == 200


def test_gzip_bomb_is_400(live_server: LiveServer) -> None:
    bomb = gzip.compress(b" " * (101 * 1024 * 1024), compresslevel=9)  # ~100 KB on the wire
    resp = _post(live_server, "/v1/models/linear:predict", bomb, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 400 and "larger than the maximum" in _error(resp)
    bad = _post(live_server, "/v1/models/linear:predict", b"not gzip", headers={"Content-Encoding": "gzip"})
    assert bad.status_code == 400 and "decompress" in _error(bad)


def test_cors_headers_and_preflight(live_server: LiveServer) -> None:
    resp = _get(live_server, "/v1/models/linear")
    assert resp.headers["access-control-allow-origin"] == "*"
    assert resp.headers["access-control-allow-methods"] == "POST, GET"
    assert resp.headers["access-control-allow-headers"] == "Content-Type"
    url = live_server.rest_url + "/v1/models/linear:predict"
    ok = requests.options(url, headers={"Origin": "http://localhost:3000"}, timeout=30)
    assert ok.status_code == 200 and ok.content == b""
    assert ok.headers["access-control-allow-origin"] == "*"
    bad = requests.options(url, timeout=30)
    assert bad.status_code == 400 and bad.content == b""
    # RE2::PartialMatch(origin, "https?://"): anywhere in the header, case-sensitive.
    assert requests.options(url, headers={"Origin": "x https://a"}, timeout=30).status_code == 200
    assert requests.options(url, headers={"Origin": "HTTP://a"}, timeout=30).status_code == 400


def test_prometheus_metrics(live_server: LiveServer) -> None:
    _post(live_server, "/v1/models/linear:predict", {"instances": [[1.0]]})
    resp = _get(live_server, "/monitoring/prometheus/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert ':tensorflow:serving:request_count{model_name="linear",status="OK"}' in resp.text
    assert 'entrypoint="REST"' in resp.text


def test_predict_multi_output_signature(live_server: LiveServer, artifacts: Path) -> None:
    from export.samples import sample_examples

    b64 = [{"b64": base64.b64encode(e).decode()} for e in sample_examples(artifacts, n=3, seed=7)]
    row = _post(live_server, "/v1/models/ctr:predict", {"signature_name": "classification", "instances": b64})
    assert row.status_code == 200, row.text
    predictions = row.json()["predictions"]
    assert len(predictions) == 3
    for item in predictions:
        assert set(item) == {"classes", "scores"} and item["classes"] == ["0", "1"]
        assert sum(item["scores"]) == pytest.approx(1.0, abs=1e-5)
    col = _post(live_server, "/v1/models/ctr:predict", {"signature_name": "classification", "inputs": b64})
    assert col.json()["outputs"] == {
        "classes": [p["classes"] for p in predictions],
        "scores": [p["scores"] for p in predictions],
    }
