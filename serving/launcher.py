"""Start `tfkit serve` as a child process on free ports and wait for readiness (never sleeps blindly).

One launcher for everything that needs a live server: the tests (through tests/support/server.py) and
the benchmarks (bench/) and the browser demo (web/serve_demo.py).

Readiness = the process is alive and `GET /v1/models/<m>` lists an AVAILABLE version for every expected
model (ports open only after the initial load, as upstream). A process that exits early fails the wait
at once with its output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
TFKIT = [sys.executable, "-m", "tfkit"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    grpc_port: int
    rest_port: int
    log_path: Path

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def available_versions(self, model: str) -> list[int]:
        r = requests.get(f"{self.rest_url}/v1/models/{model}", timeout=5)
        if r.status_code != 200:
            return []
        return [int(v["version"]) for v in r.json()["model_version_status"] if v["state"] == "AVAILABLE"]

    def wait_for(self, model: str, timeout: float = 120.0, version: int | None = None) -> None:
        """Wait until `model` (or one exact version of it) is AVAILABLE."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tfkit serve exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                versions = self.available_versions(model)
                if versions and (version is None or version in versions):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{model} (version {version}) not AVAILABLE after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def serve_argv(flags: Sequence[str], grpc_port: int, rest_port: int) -> list[str]:
    """The child's command line: `tfkit serve <flags> --port=P --rest_api_port=Q`."""
    return [*TFKIT, "serve", *flags, f"--port={grpc_port}", f"--rest_api_port={rest_port}"]


def start_server(
    flags: Sequence[str],
    wait_models: Sequence[str] = (),
    timeout: float = 180.0,
    env: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
) -> LiveServer:
    """Start `tfkit serve` on `ports` (gRPC, REST; free ones by default) and wait for `wait_models`.

    The child's output goes to a temporary log file (`LiveServer.log_path`).
    """
    grpc_port, rest_port = ports or (free_port(), free_port())
    log = Path(tempfile.mkstemp(prefix="tfkit-serve-", suffix=".log")[1])
    full_env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_argv(flags, grpc_port, rest_port),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = LiveServer(proc, grpc_port, rest_port, log)
    try:
        for model in wait_models:
            server.wait_for(model, timeout)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@contextlib.contextmanager
def running_server(
    flags: Sequence[str],
    wait_models: Sequence[str] = (),
    timeout: float = 180.0,
    env: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
) -> Iterator[LiveServer]:
    server = start_server(flags, wait_models, timeout, env, ports)
    try:
        yield server
    finally:
        server.stop()
