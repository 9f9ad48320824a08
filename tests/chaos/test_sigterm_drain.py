"""SIGTERM while REST and gRPC requests are in flight (live `tfkit serve`, batching with a long window so
requests sit in the server when the signal arrives).

Defined behaviour (serving/server.py `_shutdown`, `--tfkit_drain_seconds`):
- the gRPC health service turns NOT_SERVING first (upstream's grpc health semantics: every service
  NOT_SERVING before the port closes);
- both ports stop accepting: new connections are refused;
- requests already in flight complete normally when they finish within the drain time; exit code 0;
- when the drain time runs out, requests still in flight are cut with UNAVAILABLE "Cancelling all calls"
  (gRPC's own status for calls a stopping server cancels; REST 503 with the same text), so clients may
  retry elsewhere; the server still exits 0, never hangs.

"In flight" is observed, not guessed: a request counts once it has waited in the server for longer than
IN_FLIGHT seconds (far longer than sending it takes), with SIGTERM sent only after such requests exist
on both transports.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients import NO_RETRY, GrpcClient, RestClient
from serving.launcher import LiveServer, start_server
from tests.chaos.traffic import wait_until
from tests.support.half_plus_two import write_half_plus_two

pytestmark = pytest.mark.live
MODEL = "hpt"
IN_FLIGHT = 0.3


@dataclass
class Call:
    transport: str
    started: float
    ended: float | None = None
    error: str | None = None


@dataclass
class Callers:
    """Threads that each send one request after another until told to stop."""

    server: LiveServer
    calls: list[Call] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _loop(self, transport: str) -> None:
        client: RestClient | GrpcClient = (
            RestClient(self.server.rest_url, timeout=60, retry=NO_RETRY)
            if transport == "rest"
            else GrpcClient(self.server.grpc_target, timeout=60, retry=NO_RETRY)
        )
        while not self.stop.is_set():
            call = Call(transport, time.monotonic())
            with self.lock:
                self.calls.append(call)
            try:
                client.predict(MODEL, {"x": np.array([1.0], np.float32)})
            except Exception as error:
                call.error = f"{type(error).__name__}: {error}"
            call.ended = time.monotonic()
            if call.error:
                break  # the server is going away: stop this caller
        client.close()

    def start(self, per_transport: int = 3) -> None:
        for transport in ("rest", "grpc") * per_transport:
            thread = threading.Thread(target=self._loop, args=(transport,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def in_flight(self, at: float) -> list[Call]:
        with self.lock:
            return [
                c for c in self.calls if c.started <= at - IN_FLIGHT and (c.ended is None or c.ended > at)
            ]

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def watch_health(target: str, seen: list[tuple[float, int]]) -> threading.Thread:
    """Record every status the grpc.health.v1 Watch stream of the whole server ("") sends."""

    def run() -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                for reply in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest()):
                    seen.append((time.monotonic(), reply.status))
            except grpc.RpcError:
                pass  # the stream ends when the server goes away

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def start(batch_timeout_seconds: float, drain_seconds: float, tmp: Path) -> LiveServer:
    write_half_plus_two(tmp / MODEL, 1)
    batching = tmp / "batching.config"
    batching.write_text(
        "max_batch_size { value: 1000 }\n"
        f"batch_timeout_micros {{ value: {int(batch_timeout_seconds * 1e6)} }}\n"
        "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 100 }\n"
    )
    flags = [
        f"--model_name={MODEL}",
        f"--model_base_path={tmp / MODEL}",
        "--enable_batching=true",
        f"--batching_parameters_file={batching}",
        "--enable_grpc_healthcheck_service=true",
        f"--tfkit_drain_seconds={drain_seconds}",
    ]
    return start_server(flags, wait_models=[MODEL])


@dataclass
class Observed:
    sent: float  # when SIGTERM was sent
    pending: list[Call]  # the calls in flight then
    health: list[tuple[float, int]]  # (time, status) from the health Watch stream
    refused_at: float  # when both ports first refused a new connection


def sigterm_under_load(batch_timeout_seconds: float, drain_seconds: float, tmp: Path) -> Observed:
    """Serve, start callers, wait for in-flight calls on both transports, SIGTERM, wait for the exit.

    Checks what holds in every case: exit code 0, calls in flight on both transports, no traceback."""
    server = start(batch_timeout_seconds, drain_seconds, tmp)
    try:
        seen: list[tuple[float, int]] = []
        watcher = watch_health(server.grpc_target, seen)
        wait_until(lambda: bool(seen), 30, "health watch")
        callers = Callers(server)
        callers.start()

        def both_in_flight() -> bool:
            return {c.transport for c in callers.in_flight(time.monotonic())} == {"rest", "grpc"}

        wait_until(both_in_flight, 60, "requests in flight on both transports")
        sent = time.monotonic()
        pending = callers.in_flight(sent)
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses(server.rest_port) and refuses(server.grpc_port), 30, "ports closed")
        refused_at = time.monotonic()
        server.process.wait(timeout=drain_seconds + 60)
        callers.join()
        watcher.join(timeout=10)
    finally:
        server.stop(signal.SIGKILL)
    assert server.process.returncode == 0, server.log()
    assert {c.transport for c in pending} == {"rest", "grpc"}
    assert "Traceback" not in server.log()
    return Observed(sent, pending, seen, refused_at)


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    seen = sigterm_under_load(batch_timeout_seconds=1.0, drain_seconds=10.0, tmp=tmp_path)
    assert [c.error for c in seen.pending] == [None] * len(seen.pending)
    assert seen.health[0][1] == health_pb2.HealthCheckResponse.SERVING
    flips = [t for t, status in seen.health if status == health_pb2.HealthCheckResponse.NOT_SERVING]
    assert flips, seen.health
    assert seen.sent <= flips[0] <= seen.refused_at  # NOT_SERVING first, then the ports close


def test_drain_time_running_out_cuts_the_remaining_requests(tmp_path: Path) -> None:
    # Requests wait 30 s for their batch; the server drains for 1 s only. Both transports answer
    # UNAVAILABLE "Cancelling all calls" (gRPC core's text when a server stops with calls pending; REST
    # 503 with the same text), never a 500.
    seen = sigterm_under_load(batch_timeout_seconds=30.0, drain_seconds=1.0, tmp=tmp_path)
    assert {c.error for c in seen.pending} == {"Unavailable: Cancelling all calls"}
