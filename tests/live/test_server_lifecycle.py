"""`tfkit serve` process lifecycle: SIGTERM drains in-flight requests and exits 0; a failed initial load
exits 255 (main.cc returns -1) with upstream's message; flags that turn features off (CORS, monitoring,
health) and --rest_api_timeout_in_ms behave as upstream (busy REST port: tests/upstream)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import serve_flags
from tests.support.server import REPO, TFKIT, free_port, running_server, start_server

pytestmark = pytest.mark.live


def _read_http_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed early: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(head.split(b" ")[1]), body


def test_sigterm_drains_in_flight_request_and_exits_zero(artifacts: Path) -> None:
    server = start_server(serve_flags(artifacts, "--tfkit_drain_seconds=30"), wait_models=["linear"])
    try:
        body = json.dumps({"instances": [[float(i)] for i in range(2000)]}).encode()
        sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=60)
        sock.sendall(
            b"POST /v1/models/linear:predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:-10]
        )
        # The event loop has served another connection after reading ours: the request is in flight.
        assert requests.get(f"{server.rest_url}/v1/models/linear", timeout=30).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        sock.sendall(body[-10:])
        status, reply = _read_http_response(sock)
        sock.close()
        assert status == 200, reply
        assert len(json.loads(reply)["predictions"]) == 2000
        assert server.process.wait(60) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.rest_url}/v1/models/linear", timeout=5)
    finally:
        server.stop(signal.SIGKILL)


def test_failed_initial_load_exits_255(tmp_path: Path) -> None:
    version = tmp_path / "broken" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"not a saved model")
    argv = [
        *TFKIT,
        "serve",
        f"--port={free_port()}",
        f"--rest_api_port={free_port()}",
        "--model_name=broken",
        f"--model_base_path={tmp_path / 'broken'}",
        "--max_num_load_retries=0",
    ]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 255, done.stdout + done.stderr
    assert "Failed to start server. Error:" in done.stderr


def test_features_off_and_rest_timeout(artifacts: Path) -> None:
    flags = [
        "--model_config_file=serving/models.config",
        f"--tfkit_path_map=/models={artifacts / 'models'}",
        "--rest_api_timeout_in_ms=1",
    ]
    with running_server(flags, wait_models=["ctr"]) as server:
        status = requests.get(f"{server.rest_url}/v1/models/ctr", timeout=30)
        assert status.status_code == 200
        assert "access-control-allow-origin" not in status.headers
        preflight = requests.options(
            f"{server.rest_url}/v1/models/ctr:predict", headers={"Origin": "http://localhost"}, timeout=30
        )
        assert preflight.status_code == 200 and "access-control-allow-origin" not in preflight.headers
        assert requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=30).status_code == 404
        with grpc.insecure_channel(server.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as info:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        rng = np.random.default_rng(0)
        n = 4000
        inputs = {
            "feature": rng.random((n, 121)).round(3).tolist(),
            "user_id": list(range(n)),
            "article_id": list(range(n)),
        }
        slow = requests.post(f"{server.rest_url}/v1/models/ctr:predict", json={"inputs": inputs}, timeout=120)
        assert slow.status_code == 504, slow.text[:200]
        assert "error" in slow.json()
        assert server.process.poll() is None
