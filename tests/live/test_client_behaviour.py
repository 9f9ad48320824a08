"""Client behaviour against a live `tfkit serve`: timeouts, retries across a restart, large gRPC
payloads, waiting for availability, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients import DeadlineExceeded, ResourceExhausted, RestClient, RetryPolicy, ServingError
from clients.errors import ConnectionFailed, Unavailable
from clients.retry import NO_RETRY
from tests.support.server import REPO, LiveServer, free_port, running_server, start_server
from tfkit.cli import main as tfkit


@pytest.fixture(scope="module")
def grpc_client(live_server: LiveServer) -> Iterator[Any]:
    from clients.grpc import GrpcClient

    with GrpcClient(live_server.grpc_target) as client:
        yield client


def ctr_rows(artifacts: Path, n: int) -> dict[str, np.ndarray]:
    from export.samples import sample_inputs

    return sample_inputs("ctr", artifacts, n, seed=1)


def test_timeouts_raise_deadline_exceeded_and_per_call_overrides_default(
    live_server: LiveServer, grpc_client: Any, artifacts: Path
) -> None:
    rows = ctr_rows(artifacts, 1000)
    with RestClient(live_server.rest_url, timeout=60, retry=NO_RETRY) as rest:
        rest.predict("ctr", rows)  # warm: the timed-out call reuses this pooled connection
        with pytest.raises(DeadlineExceeded, match="no response"):
            rest.predict("ctr", rows, timeout=1e-4)
    with pytest.raises(DeadlineExceeded):
        grpc_client.predict("ctr", rows, timeout=1e-4)
    from clients.grpc import GrpcClient

    with GrpcClient(live_server.grpc_target, timeout=1e-4) as impatient:
        with pytest.raises(DeadlineExceeded):
            impatient.predict("ctr", rows)
        assert impatient.predict("ctr", rows, timeout=60)["probability"].shape == (1000, 1)


def test_a_server_side_rest_deadline_is_deadline_exceeded(artifacts: Path) -> None:
    from tests.conftest import serve_flags

    rows = ctr_rows(artifacts, 1000)
    flags = serve_flags(artifacts, "--rest_api_timeout_in_ms=1")
    CountingPolicy.seen.clear()
    with (
        running_server(flags, wait_models=["ctr"]) as server,
        RestClient(server.rest_url, retry=CountingPolicy()) as rest,
        pytest.raises(DeadlineExceeded) as info,
    ):
        rest.predict("ctr", rows)
    assert info.value.http_status == 504 and info.value.message == "Deadline Exceeded"
    assert CountingPolicy.seen == ["DeadlineExceeded"]  # asked once, not retried


def test_large_grpc_payloads_above_4_mib(live_server: LiveServer, grpc_client: Any, artifacts: Path) -> None:
    from clients.grpc import GrpcClient
    from tests.contract.reference import Reference

    x = np.linspace(-5, 5, 1_200_000, dtype=np.float32).reshape(-1, 1)  # 4.8 MB each way
    y = grpc_client.predict("linear", {"x": x})["y"]
    assert y.shape == (1_200_000, 1) and y.dtype == np.float32
    reference = Reference(artifacts)
    expected = reference.run(reference.model_dir("linear"), "serving_default", {"x": x})["y"]
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    small = GrpcClient(live_server.grpc_target, max_message_bytes=4 << 20)
    with small, pytest.raises(ResourceExhausted, match="larger than max"):
        small.predict("linear", {"x": x})


def test_gzipped_rest_bodies_give_the_same_answer(live_server: LiveServer, artifacts: Path) -> None:
    rows = ctr_rows(artifacts, 64)
    with (
        RestClient(live_server.rest_url) as plain,
        RestClient(live_server.rest_url, gzip_min_bytes=0) as packed,
    ):
        np.testing.assert_array_equal(
            packed.predict("ctr", rows)["probability"], plain.predict("ctr", rows)["probability"]
        )


def test_wait_until_available(live_server: LiveServer, grpc_client: Any) -> None:
    with RestClient(live_server.rest_url) as rest:
        assert any(v.state.name == "AVAILABLE" for v in rest.wait_until_available("linear", timeout=10))
        with pytest.raises(DeadlineExceeded, match=r"no AVAILABLE version after 0\.5s"):
            rest.wait_until_available("no_such_model", timeout=0.5)
    assert grpc_client.wait_until_available("ctr", timeout=10)


class CountingPolicy(RetryPolicy):
    """Records every error it was asked about (a real policy otherwise)."""

    seen: list[str] = []  # noqa: RUF012

    def retryable(self, error: ServingError) -> bool:  # type: ignore[override]
        CountingPolicy.seen.append(type(error).__name__)
        return super().retryable(error)


def _start_on(ports: tuple[int, int], config: Path, models: Path) -> LiveServer:
    """Start (without waiting for readiness) on fixed ports, so a restart reuses the clients' addresses."""
    return start_server([f"--model_config_file={config}", f"--tfkit_path_map=/models={models}"], ports=ports)


def test_retries_ride_over_a_server_restart(artifacts: Path, tmp_path: Path) -> None:
    from clients.grpc import GrpcClient

    config = tmp_path / "linear.config"
    config.write_text(
        'model_config_list { config { name: "linear" base_path: "/models/linear" '
        'model_platform: "tensorflow" } }'
    )
    ports = (free_port(), free_port())
    server = _start_on(ports, config, artifacts / "models")
    try:
        server.wait_for("linear")
        rest_url, grpc_target = server.rest_url, server.grpc_target
        patient = CountingPolicy(max_attempts=10_000, initial_backoff=0.05, max_backoff=0.5, max_elapsed=240)
        with RestClient(rest_url, retry=patient) as rest, GrpcClient(grpc_target, retry=patient) as grpc:
            assert rest.predict("linear", {"x": [[1.0]]})["y"].shape == (1, 1)
            server.stop()
            with RestClient(rest_url, retry=NO_RETRY) as once, pytest.raises(ConnectionFailed):
                once.status("linear")
            server = _start_on(ports, config, artifacts / "models")  # loads for several seconds
            CountingPolicy.seen.clear()
            assert rest.predict("linear", {"x": [[2.0]]}, timeout=None)["y"].shape == (1, 1)
            assert grpc.predict("linear", {"x": [[2.0]]}, timeout=None)["y"].shape == (1, 1)
            assert "ConnectionFailed" in CountingPolicy.seen or "Unavailable" in CountingPolicy.seen
            with pytest.raises(ServingError) as info:
                rest.predict("no_such_model", {"x": [[1.0]]})
            assert not isinstance(info.value, Unavailable)  # a NotFound is answered at once, not retried
    finally:
        server.stop()


def test_cli_against_the_server(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rest, grpc = live_server.rest_url, live_server.grpc_target
    assert tfkit(["predict", "--rest", rest, "--model", "linear", "--instances", "[[1.0], [2.0]]"]) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert np.asarray(outputs["y"]).shape == (2, 1)

    np.savez(tmp_path / "x.npz", x=np.array([[1.0], [2.0]], np.float32))
    assert tfkit(["predict", "--grpc", grpc, "--model", "linear", "--file", str(tmp_path / "x.npz")]) == 0
    assert np.allclose(json.loads(capsys.readouterr().out)["outputs"]["y"], outputs["y"], atol=1e-6)

    assert tfkit(["status", "--grpc", grpc, "--model", "ctr"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version_status"][0]["state"] == "AVAILABLE"
    assert tfkit(["metadata", "--rest", rest, "--model", "ctr"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["signatures"]["serving_default"]["inputs"]["feature"]["shape"] == [-1, 121]

    assert tfkit(["predict", "--rest", rest, "--model", "nope", "--inputs", "[[1.0]]"]) == 1
    assert "NOT_FOUND: Servable not found for request: Latest(nope)" in capsys.readouterr().err


def test_cli_exit_codes_end_to_end(live_server: LiveServer) -> None:
    argv = [
        sys.executable,
        "-m",
        "tfkit",
        "predict",
        "--rest",
        live_server.rest_url,
        "--model",
        "linear",
    ]
    ok = subprocess.run(
        [*argv, "--inputs", '{"x": [[3.0]]}'], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and "outputs" in json.loads(ok.stdout)
    bad = subprocess.run(
        [*argv, "--inputs", '{"x": [["a"]]}'], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr
    usage = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert usage.returncode == 2
