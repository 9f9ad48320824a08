"""RestClient's one mapping boundary and retries, against a real (scripted) HTTP server in a thread.

The scripted server answers `/v1/models/<name>...` by name: `status-<N>` replies HTTP N with
`{"error": "message <N>"}`; `flaky-<k>` replies 503 k times, then a valid predict response; `slow` waits
before replying. Connection failures use a port nobody listens on.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from clients import errors
from clients.rest import RestClient, model_path
from clients.retry import NO_RETRY, RetryPolicy
from tests.support.server import free_port

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.02, max_elapsed=5.0)
METADATA = {
    "model_spec": {"name": "m", "signature_name": "", "version": "1"},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {
                    "inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": []}, "name": "x"}},
                    "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": []}, "name": "y"}},
                    "method_name": "tensorflow/serving/predict",
                }
            }
        }
    },
}


class Scripted(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, bytes]]] = []
    release = threading.Event()
    counts: ClassVar[dict[str, int]] = {}
    gzipped: ClassVar[list[bool]] = []

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        Scripted.gzipped.append(self.headers.get("Content-Encoding") == "gzip")
        if Scripted.gzipped[-1]:
            body = gzip.decompress(body)
        Scripted.seen.append((self.command, self.path, body))
        name = re.match(r"/v1/models/([^/:]+)", self.path)
        model = name.group(1) if name else ""
        if self.path.endswith("/metadata"):
            return self.reply(200, METADATA)
        if model.startswith("status-"):
            code = int(model.split("-")[1])
            return self.reply(code, {"error": f"message {code}"})
        if model.startswith("flaky-"):
            count = Scripted.counts[model] = Scripted.counts.get(model, 0) + 1
            if count <= int(model.split("-")[1]):
                return self.reply(
                    503, {"error": "The batch scheduling queue to which this task was submitted is full"}
                )
        if model == "slow":
            Scripted.release.wait(10)
        return self.reply(200, {"predictions": [[1.5]]})

    do_GET = handle_any
    do_POST = handle_any


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the `slow` reply lands after the client gave up: a broken pipe, expected


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Scripted.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.InvalidArgument),
        (404, errors.NotFound),
        (429, errors.ResourceExhausted),
        (500, errors.Internal),
        (501, errors.Unimplemented),
        (504, errors.DeadlineExceeded),
    ],
)
def test_http_status_becomes_the_typed_error_with_the_servers_message(
    url: str, status: int, error: type[errors.ServingError]
) -> None:
    with RestClient(url, retry=FAST_RETRY) as client, pytest.raises(error) as info:
        client.predict(f"status-{status}", [[1.0]])
    assert type(info.value) is error and info.value.message == f"message {status}"
    assert sum(1 for _, path, _ in Scripted.seen if f"status-{status}:" in path) == 1  # never retried


def test_503_is_retried_then_succeeds_and_output_dtype_comes_from_metadata(url: str) -> None:
    with RestClient(url, retry=FAST_RETRY) as client:
        out = client.predict("flaky-2", [[1.0]])
    assert out["y"].dtype.name == "float32" and out["y"].tolist() == [[1.5]]
    assert Scripted.counts["flaky-2"] == 3


def test_503_gives_up_after_the_policy_and_keeps_the_message(url: str) -> None:
    client = RestClient(url, retry=RetryPolicy(max_attempts=2, initial_backoff=0.0))
    with client, pytest.raises(errors.Unavailable, match="batch scheduling queue"):
        client.predict("flaky-5", [[1.0]])
    assert Scripted.counts["flaky-5"] == 2


def test_connection_refused_is_a_connection_failure_an_unavailable() -> None:
    client = RestClient(f"127.0.0.1:{free_port()}", retry=RetryPolicy(max_attempts=2, initial_backoff=0.0))
    with pytest.raises(errors.ConnectionFailed, match="cannot reach") as info:
        client.status("m")
    assert isinstance(info.value, errors.Unavailable)


def test_per_call_timeout_overrides_the_client_default(url: str) -> None:
    Scripted.release.clear()
    try:
        client = RestClient(url, timeout=30.0, retry=NO_RETRY)
        with client, pytest.raises(errors.DeadlineExceeded, match=r"within 0\.2s"):
            client.predict("slow", [[1.0]], timeout=0.2)
    finally:
        Scripted.release.set()


def test_request_path_and_body(url: str) -> None:
    with RestClient(url + "/", retry=NO_RETRY) as client:
        client.predict("flaky-0", {"x": [[1.0]]}, label="canary", signature="serving_default")
    method, path, body = Scripted.seen[-2]  # the last request is the (cached) metadata GET
    assert (method, path) == ("POST", "/v1/models/flaky-0/labels/canary:predict")
    assert json.loads(body) == {"signature_name": "serving_default", "instances": [{"x": [1.0]}]}
    assert model_path("a b", version=3) == "/v1/models/a%20b/versions/3"


def test_output_filter_is_applied_client_side_with_grpc_texts(url: str) -> None:
    with RestClient(url, retry=NO_RETRY) as client:
        assert list(client.predict("flaky-0", [[1.0]], output_filter=["y"])) == ["y"]
        with pytest.raises(errors.InvalidArgument, match="output tensor alias not found in signature: z"):
            client.predict("flaky-0", [[1.0]], output_filter=["z"])
        with pytest.raises(errors.InvalidArgument, match="duplicate output tensor alias: y"):
            client.predict("flaky-0", [[1.0]], output_filter=["y", "y"])


def test_invalid_client_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RestClient("http://x", timeout=0)
    with pytest.raises(ValueError, match="request_format"):
        RestClient("http://x", request_format="rows")  # type: ignore[arg-type]


def test_a_timeout_while_sending_the_body_is_deadline_exceeded_not_a_connection_failure() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts into the backlog, never reads: the body send blocks, then times out
    try:
        client = RestClient(f"127.0.0.1:{listener.getsockname()[1]}", retry=FAST_RETRY)
        with client, pytest.raises(errors.DeadlineExceeded, match="did not finish within"):
            client.predict("m", {"x": np.zeros((1 << 22, 1), np.float32)}, timeout=0.3)
    finally:
        listener.close()


def test_large_bodies_are_gzipped_when_asked(url: str) -> None:
    with RestClient(url, retry=NO_RETRY, gzip_min_bytes=1000) as client:
        client.predict("flaky-0", {"x": np.zeros((10, 1), np.float32)})  # small: sent as is
        client.predict("flaky-0", {"x": np.zeros((1000, 1), np.float32)})  # large: gzipped
    flags = [
        gz for gz, (_, path, _) in zip(Scripted.gzipped, Scripted.seen, strict=True) if "flaky-0:" in path
    ]
    small, large = [body for _, path, body in Scripted.seen if path.endswith("flaky-0:predict")][-2:]
    assert flags[-2:] == [False, True]
    assert len(json.loads(small)["instances"]) == 10 and len(json.loads(large)["instances"]) == 1000
