"""Property-based tests against a real `tfkit serve` (REST and gRPC), black-box.

One server over the kit's half_plus_two model (upstream's testdata shape: `x` float32 in, `y` out, plus
classify/regress signatures) takes Hypothesis-made bodies and TensorProtos. Every answer must be in
upstream's shape: on REST a 2xx body or `{"error": "<message>"}` with a status of serving/status.py's
table, each checked against serving/rest/openapi.json; on gRPC a status code of the same table. No answer
may be a 500 / INTERNAL / UNKNOWN (tensorflow_model_server gives none for bad input), none may hang
(every call has a client timeout), and the server must keep answering a known-good request afterwards.
Oversized bodies get a clear 400 and the server's peak RSS stays within a stated bound.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from serving.status import Code
from tests.contract.openapi_check import problems as openapi_problems
from tests.fuzz.strategies import json_documents, raw_bodies, tensor_protos
from tests.support.server import LiveServer, running_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

MODEL = "hp2"
TIMEOUT = 60  # seconds; a call that takes longer is a hang
# Upstream's cap on an (inflated) request body, as app.py applies it.
MAX_BODY = 100 * 1024 * 1024
# Codes tensorflow_model_server answers bad input with (serving/status.py names them).
CLIENT_ERROR_CODES = {
    Code.OK,
    Code.INVALID_ARGUMENT,
    Code.FAILED_PRECONDITION,
    Code.NOT_FOUND,
    Code.OUT_OF_RANGE,
    Code.RESOURCE_EXHAUSTED,
    Code.UNIMPLEMENTED,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from tests.support.half_plus_two import write_versions

    base = write_versions(tmp_path_factory.mktemp("hp2") / MODEL, versions=(1,))
    flags = [f"--model_name={MODEL}", f"--model_base_path={base}"]
    with running_server(flags, wait_models=[MODEL]) as live:
        yield live
        log = live.log()
    assert "Traceback" not in log, log[-4000:]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def check_rest_answer(method: str, url: str, response: requests.Response) -> None:
    status = response.status_code
    assert status < 500, f"{status} for {method} {url}: {response.text[:500]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    if status >= 400 and response.content.strip():
        body = json.loads(response.content)
        assert isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str), body
        assert "Traceback" not in body["error"] and "Internal error" not in body["error"], body
    found = openapi_problems(method, url, status, response.headers["Content-Type"], response.content)
    assert not found, found


def still_serving(server: LiveServer) -> None:
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json={"instances": [1.0]}, timeout=30)
    assert r.status_code == 200 and r.json() == {"predictions": [2.5]}, r.text
    assert server.process.poll() is None


_PATHS = st.sampled_from(
    [
        f"/v1/models/{MODEL}:predict",
        f"/v1/models/{MODEL}/versions/1:predict",
        f"/v1/models/{MODEL}/versions/99999999999999999999:predict",
        f"/v1/models/{MODEL}/labels/stable:predict",
        f"/v1/models/{MODEL}:classify",
        f"/v1/models/{MODEL}:regress",
        "/v1/models/no_such_model:predict",
        f"/v1/models/{MODEL}:PREDICT",
    ]
)


# -- REST ------------------------------------------------------------------------------------------------
@given(path=_PATHS, body=raw_bodies(), gzipped=st.booleans())
def test_rest_bodies(server: LiveServer, path: str, body: bytes, gzipped: bool) -> None:
    """Any bytes to any API path, plain or gzip Content-Encoding: an upstream-shaped answer, no 5xx."""
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    url = server.rest_url + path
    check_rest_answer("POST", url, requests.post(url, data=body, headers=headers, timeout=TIMEOUT))


@given(doc=json_documents(), signature=st.sampled_from(["", "serving_default", "regress_x_to_y", "nope"]))
def test_rest_documents(server: LiveServer, doc: Any, signature: str) -> None:
    """Well-formed JSON of every shape (row/columnar, b64, ragged, limits, NaN/Inf) to predict."""
    if isinstance(doc, dict) and signature:
        doc["signature_name"] = signature
    url = f"{server.rest_url}/v1/models/{MODEL}:predict"
    check_rest_answer("POST", url, requests.post(url, data=json.dumps(doc), timeout=TIMEOUT))


@given(
    examples=st.lists(
        st.dictionaries(
            st.sampled_from(["x", "x2", "y"]),
            st.one_of(
                st.floats(), st.integers(), st.text(max_size=5), st.booleans(), st.none(),
                st.lists(st.floats(allow_nan=False), max_size=3), st.just({"b64": "eA=="}),
            ),
            max_size=3,
        ),
        max_size=3,
    ),
    api=st.sampled_from(["classify", "regress"]),
    signature=st.sampled_from(["classify_x_to_y", "regress_x_to_y", "serving_default", "nope"]),
)  # fmt: skip
def test_rest_examples(server: LiveServer, examples: list[Any], api: str, signature: str) -> None:
    url = f"{server.rest_url}/v1/models/{MODEL}:{api}"
    doc = {"signature_name": signature, "examples": examples}
    check_rest_answer("POST", url, requests.post(url, data=json.dumps(doc), timeout=TIMEOUT))


def test_rest_still_serving_after_fuzz(server: LiveServer) -> None:
    still_serving(server)


# -- gRPC ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predict_rpc(server: LiveServer) -> Iterator[Any]:
    import grpc

    from clients.protos import PREDICTION_SERVICE, messages

    channel = grpc.insecure_channel(server.grpc_target)
    yield channel.unary_unary(
        PREDICTION_SERVICE + "Predict",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=messages().PredictResponse.FromString,
    )
    channel.close()


@given(
    tp=tensor_protos(),
    alias=st.sampled_from(["x", "y", ""]),
    extra=st.booleans(),
    output_filter=st.sampled_from([[], ["y"], ["nope"], ["y", "y"]]),
)
def test_grpc_tensor_protos(
    predict_rpc: Any, tp: Any, alias: str, extra: bool, output_filter: list[str]
) -> None:
    """Every dtype, content vs typed fields, shape/size mismatch, huge and negative dims: a status code of
    the error table, never INTERNAL/UNKNOWN, never past the deadline."""
    import grpc

    from clients.protos import messages

    request = messages().PredictRequest()
    request.model_spec.name = MODEL
    request.inputs[alias].CopyFrom(tp)
    if extra:
        request.inputs["x2"].CopyFrom(tp)
    request.output_filter.extend(output_filter)
    try:
        predict_rpc(request, timeout=TIMEOUT)
        code = Code.OK
    except grpc.RpcError as error:
        code = Code[error.code().name]
        details = error.details() or ""
        assert "Traceback" not in details and "Internal error" not in details, details
    assert code in CLIENT_ERROR_CODES, f"{code.name} for {tp}"


def test_grpc_still_serving_after_fuzz(server: LiveServer) -> None:
    still_serving(server)


# -- oversized bodies: a clear 400, bounded memory, still serving -----------------------------------------
def _post_stream(url: str, size: int, out: list[requests.Response]) -> None:
    """POST `size` bytes of a JSON string body in 1 MiB chunks (never held whole by the client)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ["'
        left = size - 19  # the 16-byte head and 3-byte tail make up the rest
        while left > 0:
            n = min(left, 1 << 20)
            yield b"a" * n
            left -= n
        yield b'"]}'

    # the server may answer 400 and close before reading the rest of a chunked body
    with contextlib.suppress(requests.ConnectionError):
        out.append(requests.post(url, data=chunks(), timeout=TIMEOUT))


def test_oversized_bodies_burst(server: LiveServer) -> None:
    """A burst of bodies just over the 100 MB cap (declared and chunked) and a gzip bomb: each a 400
    `Request body is larger than the maximum of 104857600 bytes`, the server's RSS grows by less than
    the cap per concurrent request, and it keeps serving."""
    url = f"{server.rest_url}/v1/models/{MODEL}:predict"
    pid = server.process.pid
    before = rss_kib(pid)
    answers: list[requests.Response] = []
    threads = [threading.Thread(target=_post_stream, args=(url, MAX_BODY + 1, answers)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    declared = requests.post(url, data=b"{}", headers={"Content-Length": str(MAX_BODY + 1)}, timeout=TIMEOUT)
    bomb = gzip.compress(b" " * (MAX_BODY + 1), compresslevel=9)
    inflated = requests.post(url, data=bomb, headers={"Content-Encoding": "gzip"}, timeout=TIMEOUT)
    peak_growth = rss_kib(pid, "VmHWM") - before
    expected = {"error": f"Request body is larger than the maximum of {MAX_BODY} bytes"}
    for response in [*answers, inflated]:
        assert response.status_code == 400 and response.json() == expected, response.text[:300]
    assert declared.status_code == 400
    assert peak_growth < 4 * MAX_BODY // 1024 + 200 * 1024, f"peak RSS grew by {peak_growth} KiB"
    print(f"\noversized burst: RSS before {before} KiB, peak growth {peak_growth} KiB")
    still_serving(server)


@pytest.mark.skipif(
    not os.environ.get("TFKIT_FUZZ_FULL"), reason="make fuzz only: a 100 MB JSON document (~GBs to parse)"
)
def test_max_size_valid_body_memory(server: LiveServer) -> None:
    """One body just under the cap, a valid 16-million-row predict: measure the peak RSS it costs."""
    url = f"{server.rest_url}/v1/models/{MODEL}:predict"
    rows = (MAX_BODY - 20) // 6
    body = b'{"instances": [' + b"[1.0]," * (rows - 1) + b"[1.0]]}"
    before = rss_kib(server.process.pid)
    response = requests.post(url, data=body, timeout=600)
    peak_growth = rss_kib(server.process.pid, "VmHWM") - before
    status = response.status_code
    print(f"\nmax-size body ({len(body)} bytes, {rows} rows): HTTP {status}, peak RSS +{peak_growth} KiB")
    assert response.status_code in (200, 400, 429), response.text[:300]
    still_serving(server)


def test_openapi_document_is_served(server: LiveServer) -> None:
    """The kit's one extra path: GET /v1/tfkit/openapi.json answers the repo's document, byte for byte."""
    from tests.contract.openapi_check import DOCUMENT

    response = requests.get(f"{server.rest_url}/v1/tfkit/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content == DOCUMENT.read_bytes()
    assert response.json()["openapi"] == "3.1.0"
