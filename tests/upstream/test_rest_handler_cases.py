"""Upstream cases of TF Serving 2.19.0 `model_servers/http_rest_api_handler_test.cc`, end to end.

A live `tfkit serve` serves the kit's own half_plus_two models in upstream's testdata layout, set up as
`HttpRestApiHandlerTest::CreateServerCore` does (tests/support/upstream_rest.py): model
`saved_model_half_plus_two_2_versions`, `specific { versions: 123 }`, then a reload that labels
`Version_Label -> 123`. One row per upstream sub-case (`<Test>/<n>`), sent over HTTP exactly as
written upstream; each row asserts the HTTP status, the content type and the whole body.

Upstream calls `HttpRestApiHandler::ProcessRequest` directly, so over HTTP:
- paths outside `(?i)/v1/.*` (kPathRegex) never reach the handler: libevent's HTML 404;
- a version that does not fit int64 fails before the error document is made: 400 with an empty body;
- bodies are compared as parsed JSON with every number kept as its text (`42.0`, not `42`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.server import LiveServer
from tests.support.upstream_rest import LABEL, MISSING_LABEL, MODEL, call, handler_server

V1 = 123
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: str = ""
    status: int = 200
    error: str | None = None  # the whole `error` text of a JSON error document
    json: str | None = None  # the whole success document (numbers compared by their text)
    raw: bytes | None = None  # the exact body, when it is not a JSON document


def malformed(n: int, method: str, path: str) -> Case:
    return Case(
        f"UnsupportedApiCalls/{n}", method, path, status=400, error=f"Malformed request: {method} {path}"
    )


STATUS_123 = """{"model_version_status": [
    {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
]}"""
PREDICT = f"/v1/models/{MODEL}:predict"
NOT_FOUND_HTML = (
    b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
)

CASES = [
    Case("kPathRegex/1", "GET", "/v1/models", status=400, error="Missing model name in request."),
    Case("kPathRegex/2", "GET", "/statuspage", status=404, raw=NOT_FOUND_HTML),
    Case("kPathRegex/3", "GET", "/index", status=404, raw=NOT_FOUND_HTML),
    malformed(1, "GET", "/v1/foo"),
    malformed(2, "POST", "/v1/foo"),
    Case("UnsupportedApiCalls/3", "GET", "/v1/models", status=400, error="Missing model name in request."),
    malformed(4, "GET", "/v1/models/debug/model_name"),
    malformed(5, "POST", "/v1/models"),
    malformed(6, "GET", "/v1/models/foo:predict"),
    malformed(7, "GET", "/v1/models/foo/version/50:predict"),
    malformed(8, "POST", "/v1/models/foo/version/50:regress"),
    malformed(9, "POST", "/v1/models/foo/versions/HELLO:regress"),
    # "Failed to convert version: ... to numeric." is returned before the error document is written.
    Case(
        "UnsupportedApiCalls/10", "POST", f"/v1/models/foo/versions/{UINT64_MAX}:regress", status=400, raw=b""
    ),
    malformed(11, "POST", "/v1/models/foo/metadata"),
    malformed(12, "POST", "/v1/models/foo/label/some_label:regress"),
    malformed(13, "POST", "/v1/models/foo/versions/50/labels/some_label:regress"),
    malformed(14, "POST", "/v1/models/foo/versions/some_label:regress"),
    Case(
        "PredictModelNameVersionErrors/1",
        "POST",
        "/v1/models/foo:predict",
        '{ "instances": [1] }',
        404,
        "Servable not found for request: Latest(foo)",
    ),
    Case(
        "PredictModelNameVersionErrors/2",
        "POST",
        "/v1/models/foo/versions/50:predict",
        '{ "instances": [1] }',
        404,
        "Servable not found for request: Specific(foo, 50)",
    ),
    Case(
        "PredictModelNameVersionErrors/3",
        "POST",
        f"/v1/models/{MODEL}99:predict",
        '{ "instances": [1] }',
        404,
        f"Servable not found for request: Latest({MODEL}99)",
    ),
    Case("PredictRequestErrors/1", "POST", PREDICT, "", 400, "JSON Parse error: The document is empty"),
    Case(
        "PredictRequestErrors/2",
        "POST",
        PREDICT,
        "instances = [1, 2]",
        400,
        "JSON Parse error: Invalid value. at offset: 0",
    ),
    Case(
        "PredictRequestErrors/3",
        "POST",
        PREDICT,
        '{ "instances": ["x", "y"] }',
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        'JSON Value: "x" Type: String is not of expected type: float',
    ),
    Case(
        "PredictRequestErrors/4",
        "POST",
        f"/v1/models/{MODEL}/labels/{MISSING_LABEL}:predict",
        '{ "instances": ["x", "y"] }',
        400,
        f"Unrecognized servable version label: {MISSING_LABEL}",
    ),
    Case(
        "PredictRequestErrors/5",
        "POST",
        PREDICT,
        '{ "signature_name": 100 }',
        400,
        'JSON Value: {\n    "signature_name": 100\n}'
        " not formatted correctly. 'signature_name' key must be a string value.",
    ),
    Case(
        "Predict/1",
        "POST",
        PREDICT,
        '{"instances": [[1.0, 2.0], [3.0, 4.0]]}',
        json='{ "predictions": [[2.5, 3.0], [3.5, 4.0]] }',
    ),
    Case(
        "Predict/2",
        "POST",
        f"/v1/models/{MODEL}/versions/{V1}:predict",
        '{"instances": [1.0, 2.0]}',
        json='{ "predictions": [2.5, 3.0] }',
    ),
    Case(
        "Predict/3",
        "POST",
        f"/v1/models/{MODEL}/labels/{LABEL}:predict",
        '{"instances": [1.0, 2.0]}',
        json='{ "predictions": [2.5, 3.0] }',
    ),
    Case(
        "Predict/4",
        "POST",
        f"/v1/models/{MODEL}/versions/{V1}:predict",
        '{"signature_name": "serving_default", "instances": [3.0, 4.0]}',
        json='{ "predictions": [3.5, 4.0] }',
    ),
    Case(
        "Predict/5",
        "POST",
        f"/v1/models/{MODEL}/versions/{V1}:predict",
        '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}',
        json='{ "outputs": [3.5, 4.0] }',
    ),
    *(
        Case(
            f"Regress/{n}",
            "POST",
            f"/v1/models/{MODEL}{suffix}:regress",
            '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }',
            json='{ "results": [42.0] }',
        )
        for n, suffix in enumerate(("", f"/versions/{V1}", f"/labels/{LABEL}"), 1)
    ),
    Case(
        "Classify/1",
        "POST",
        f"/v1/models/{MODEL}:classify",
        '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }',
        json='{ "results": [[["", 12.0]]] }',
    ),
    Case(
        "Classify/2",
        "POST",
        f"/v1/models/{MODEL}/labels/{LABEL}:classify",
        '{"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] }',
        json='{ "results": [[["", 7.0]]] }',
    ),
    *(
        Case(f"GetStatus/{n}", "GET", f"/v1/models/{MODEL}{suffix}", json=STATUS_123)
        for n, suffix in enumerate(("", f"/versions/{V1}", f"/labels/{LABEL}"), 1)
    ),
]


def number_texts(text: str | bytes) -> Any:
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with handler_server(tmp_path_factory.mktemp("testdata")) as live:
        yield live


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_http_rest_api_handler(server: LiveServer, case: Case) -> None:
    """http_rest_api_handler_test.cc HttpRestApiHandlerTest.<id>."""
    reply = call(server, case.method, case.path, case.body)
    assert reply.status == case.status, reply.body
    if case.raw is not None:
        assert reply.body == case.raw
        return
    assert reply.content_type == "application/json"
    if case.error is not None:
        assert json.loads(reply.body) == {"error": case.error}
    else:
        assert case.json is not None
        assert number_texts(reply.body) == number_texts(case.json)


def _tensor(name: str, dtype: str, dims: tuple[int, ...] | None) -> dict[str, Any]:
    shape: dict[str, Any] = {"dim": [], "unknown_rank": True}
    if dims is not None:
        shape = {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}
    return {"dtype": dtype, "tensor_shape": shape, "name": name}


def _signature(
    inputs: dict[str, Any], outputs: dict[str, Any], method: str = "tensorflow/serving/predict"
) -> Any:
    return {"inputs": inputs, "outputs": outputs, "method_name": method, "defaults": {}}


def _examples_signature(key: str, output: str, call: int) -> Any:
    inputs = {"inputs": _tensor(f"{key}_inputs:0", "DT_STRING", (-1,))}
    return _signature(inputs, {output: _tensor(f"StatefulPartitionedCall_{call}:0", "DT_FLOAT", (-1, 1))})


def _x2_signature(key: str, output: str, call: str) -> Any:
    inputs = {"inputs": _tensor(f"{key}_inputs:0", "DT_FLOAT", (1,))}
    return _signature(inputs, {output: _tensor(f"StatefulPartitionedCall{call}:0", "DT_FLOAT", (1,))})


# servables/tensorflow/testdata/saved_model_half_plus_two_tf2_2_versions_metadata.json: the metadata of
# upstream's TF2 half_plus_two (the kit's models are TF2). That file omits `"defaults": {}` on
# `__saved_model_init_op` only; `always_print_primitive_fields` prints the empty map on every SignatureDef.
TF2_METADATA = {
    "model_spec": {"name": MODEL, "signature_name": "", "version": str(V1)},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "regress_x_to_y": _examples_signature("regress_x_to_y", "outputs", 3),
                "regress_x_to_y2": _examples_signature("regress_x_to_y2", "outputs", 4),
                "classify_x_to_y": _examples_signature("classify_x_to_y", "scores", 1),
                "serving_default": _signature(
                    {"x": _tensor("serving_default_x:0", "DT_FLOAT", (1,))},
                    {"y": _tensor("StatefulPartitionedCall_5:0", "DT_FLOAT", (1,))},
                ),
                "regress_x2_to_y3": _x2_signature("regress_x2_to_y3", "outputs", "_2"),
                "classify_x2_to_y3": _x2_signature("classify_x2_to_y3", "scores", ""),
                "__saved_model_init_op": _signature(
                    {}, {"__saved_model_init_op": _tensor("NoOp", "DT_INVALID", None)}, ""
                ),
            }
        }
    },
}


def test_get_model_metadata(server: LiveServer) -> None:
    """http_rest_api_handler_test.cc HttpRestApiHandlerTest.GetModelMetadata.

    Upstream compares with `saved_model_half_plus_two_2_versions_metadata.json`, the metadata of its
    graph-mode model; the kit's models are TF2 SavedModels, so the row compares with the metadata of
    upstream's TF2 variant (TF2_METADATA).
    """
    reply = call(server, "GET", f"/v1/models/{MODEL}/metadata")
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == TF2_METADATA
