"""Chaos-test glue: REST + gRPC traffic threads against a live `tfkit serve`, and event waits.

`Traffic` runs `rest` + `grpc` client threads (the kit's RestClient / GrpcClient, retries off so every
failure is seen) that call predict on one model in a loop until stopped or until `max_seconds` pass.
Each answer is y = 0.5 * x + offset of the half_plus_two model (tests/support/half_plus_two.py), so the
offset in an answer names the version that produced it. Every error is kept with its transport.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from clients import NO_RETRY, GrpcClient, RestClient
from serving.launcher import LiveServer

X = 4.0  # the input every request sends; the answer is 0.5 * X + offset
BATCHING_FLAGS = ("--enable_batching=true", "--batching_parameters_file=serving/batching.config")


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll an observed event (status API, counters, process state) until true; never a blind sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


def offset_of(answer: float) -> float:
    return round(float(answer) - 0.5 * X, 4)


@dataclass
class Traffic:
    """Concurrent REST and gRPC predict loops on `model`; counts answers by offset, keeps failures."""

    server: LiveServer
    model: str
    rest: int = 2
    grpc: int = 2
    max_seconds: float = 60.0
    label: str | None = None
    expect_not_found: bool = False  # the model may be removed: NOT_FOUND is then counted, not failed
    ok: Counter[tuple[str, float]] = field(default_factory=Counter)
    switches: list[tuple[float, float]] = field(default_factory=list)  # (from, to) offset, per thread
    not_found: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _loop(self, transport: str) -> None:
        client: RestClient | GrpcClient
        if transport == "rest":
            client = RestClient(self.server.rest_url, timeout=30, retry=NO_RETRY)
        else:
            client = GrpcClient(self.server.grpc_target, timeout=30, retry=NO_RETRY)
        deadline = time.monotonic() + self.max_seconds
        x = np.array([X], np.float32)
        last: float | None = None
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    y = client.predict(self.model, {"x": x}, label=self.label)["y"]
                except Exception as error:
                    with self._lock:
                        if self.expect_not_found and type(error).__name__ == "NotFound":
                            self.not_found += 1
                        else:
                            self.failures.append(f"{transport}: {type(error).__name__}: {error}")
                    continue
                offset = offset_of(np.asarray(y).reshape(-1)[0])
                with self._lock:
                    self.ok[(transport, offset)] += 1
                    if last is not None and offset != last:
                        self.switches.append((last, offset))
                last = offset
        finally:
            client.close()

    @property
    def answers(self) -> int:
        with self._lock:
            return sum(self.ok.values())

    def offsets(self) -> set[float]:
        with self._lock:
            return {offset for _, offset in self.ok}

    def count(self, offset: float) -> int:
        with self._lock:
            return sum(n for (_, o), n in self.ok.items() if o == offset)

    def transports(self) -> set[str]:
        with self._lock:
            return {t for t, _ in self.ok}

    def start(self) -> None:
        names = ["rest"] * self.rest + ["grpc"] * self.grpc
        self._threads = [threading.Thread(target=self._loop, args=(t,), daemon=True) for t in names]
        for thread in self._threads:
            thread.start()

    def wait_more(self, n: int = 10, timeout: float = 60.0) -> None:
        """Wait until `n` more answers arrived (proves the traffic still flows)."""
        target = self.answers + n
        wait_until(lambda: self.answers >= target, timeout, f"{n} more answers")

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@contextmanager
def traffic(server: LiveServer, model: str, **kwargs: object) -> Iterator[Traffic]:
    """Traffic running for the body of the `with` (started, warmed by a few answers, then stopped)."""
    load = Traffic(server, model, **kwargs)  # type: ignore[arg-type]
    load.start()
    try:
        load.wait_more(4)
        yield load
    finally:
        load.finish()


def version_states(server: LiveServer, model: str) -> dict[int, str]:
    r = requests.get(f"{server.rest_url}/v1/models/{model}", timeout=10)
    if r.status_code != 200:
        return {}
    return {int(s["version"]): str(s["state"]) for s in r.json()["model_version_status"]}


def version_status(server: LiveServer, model: str, version: int) -> dict[str, str]:
    r = requests.get(f"{server.rest_url}/v1/models/{model}", timeout=10)
    r.raise_for_status()
    for entry in r.json()["model_version_status"]:
        if int(entry["version"]) == version:
            return {"state": entry["state"], **entry["status"]}
    raise KeyError(version)


def metrics(server: LiveServer) -> str:
    return requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10).text


def server_flags(base: Path, model: str, batching: bool, *extra: str) -> list[str]:
    """One model from `base/<model>`, polled every second, no load retries, metrics on."""
    return [
        f"--model_name={model}",
        f"--model_base_path={base / model}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
        "--monitoring_config_file=serving/monitoring.config",
        *(BATCHING_FLAGS if batching else ()),
        *extra,
    ]
