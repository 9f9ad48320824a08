"""`--tfkit_workers=2` (kit extension, serving/workers.py): two full server processes share the gRPC and
REST ports (SO_REUSEPORT), a gRPC reload reaches every worker, SIGTERM to the supervisor stops them all
with exit code 0. Model reload semantics are upstream's HandleReloadConfigRequest
(model_servers/model_service_impl.cc), here fanned out to every worker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tests.support.half_plus_two import write_half_plus_two
from tests.support.server import LiveServer, running_server

pytestmark = pytest.mark.live
READY_LINE = "Exporting HTTP/REST API"  # each worker logs it once its ports are open


def _workers(server: LiveServer) -> list[int]:
    pid = server.process.pid
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workers") / "half"
    write_half_plus_two(root, 1)
    return root


@pytest.fixture(scope="module")
def server(base: Path) -> Iterator[LiveServer]:
    flags = ["--model_name=half", f"--model_base_path={base}", "--tfkit_workers=2"]
    with running_server(flags, wait_models=["half"]) as live:
        deadline = time.monotonic() + 300
        while live.log().count(READY_LINE) < 2:  # the launcher saw the first worker only
            assert live.process.poll() is None and time.monotonic() < deadline, live.log()
            time.sleep(0.1)
        yield live


def test_two_workers_each_listen_on_both_ports(server: LiveServer) -> None:
    workers = _workers(server)
    assert len(workers) == 2
    for port in (server.rest_port, server.grpc_port):
        listening = _listening_inodes(port)
        assert len(listening) == 2  # one listening socket per worker (SO_REUSEPORT)
        assert all(_socket_inodes(pid) & listening for pid in workers)


def test_every_connection_is_served(server: LiveServer) -> None:
    for _ in range(16):  # a new connection each time: the kernel spreads them over the workers
        r = requests.post(f"{server.rest_url}/v1/models/half:predict", json={"instances": [1.0]}, timeout=30)
        assert r.status_code == 200 and r.json() == {"predictions": [2.5]}


def test_grpc_reload_reaches_every_worker(server: LiveServer, base: Path) -> None:
    config = model_server_config_pb2.ModelServerConfig()
    for name in ("half", "half2"):
        config.model_config_list.config.add(name=name, base_path=str(base), model_platform="tensorflow")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        response = stub.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=120
        )
    assert response.status.error_code == 0, response.status.error_message
    for _ in range(16):  # status is coherent whichever worker answers
        r = requests.get(f"{server.rest_url}/v1/models/half2", timeout=30)
        assert r.status_code == 200
        assert [v["state"] for v in r.json()["model_version_status"]] == ["AVAILABLE"]


def test_sigterm_stops_every_worker(base: Path) -> None:
    flags = ["--model_name=half", f"--model_base_path={base}", "--tfkit_workers=2"]
    with running_server(flags, wait_models=["half"]) as live:
        workers = _workers(live)
        assert len(workers) == 2
        assert live.stop(signal.SIGTERM) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
