"""Live `tfkit serve`: version hot-add and a broken version under continuous REST traffic (zero failed
requests), warmup at load, END status with the error, and HandleReloadConfigRequest over gRPC."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.server import LiveServer, running_server
from tests.unit.test_core_manager import wait_until

pytestmark = pytest.mark.live

INSTANCES = {"instances": [[1.0], [2.0], [5.0]]}


def copy_version(source: Path, base: Path, version: int) -> Path:
    """Copy a SavedModel version in atomically (temp dir + rename), as the export pipeline does."""
    staging = base / f".incoming-{version}"
    shutil.copytree(source, staging)
    return staging.rename(base / str(version))


def statuses(server: LiveServer, model: str) -> dict[int, dict[str, object]]:
    r = requests.get(f"{server.rest_url}/v1/models/{model}", timeout=10)
    r.raise_for_status()
    return {int(s["version"]): s for s in r.json()["model_version_status"]}


def states(server: LiveServer, model: str) -> dict[int, str]:
    return {v: str(s["state"]) for v, s in statuses(server, model).items()}


@dataclass
class Traffic:
    """Threads posting predict requests until stopped; every non-200 answer is kept."""

    url: str
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                try:
                    r = session.post(self.url, json=INSTANCES, timeout=30)
                except requests.RequestException as err:
                    self.failures.append(repr(err))
                    continue
                if r.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"{r.status_code} {r.text}")


@pytest.fixture(scope="module")
def base(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lifecycle")
    copy_version(artifacts / "models" / "linear" / "1", root / "linear", 1)
    return root


@pytest.fixture(scope="module")
def server(base: Path) -> Iterator[LiveServer]:
    flags = [
        "--model_name=linear",
        f"--model_base_path={base / 'linear'}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
        "--monitoring_config_file=serving/monitoring.config",
    ]
    with running_server(flags, wait_models=["linear"]) as live:
        yield live


def test_hot_add_and_broken_version_under_traffic(server: LiveServer, base: Path, artifacts: Path) -> None:
    traffic = Traffic(f"{server.rest_url}/v1/models/linear:predict")
    workers = [threading.Thread(target=traffic.run) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: traffic.ok > 5)
        copy_version(artifacts / "models" / "linear" / "1", base / "linear", 2)
        wait_until(lambda: states(server, "linear") == {2: "AVAILABLE", 1: "END"}, timeout=120)
        # A version whose warmup file is corrupt fails at load: END with DATA_LOSS, v2 keeps serving.
        broken = base / ".broken"
        shutil.copytree(artifacts / "models" / "linear" / "1", broken)
        (broken / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"definitely not a TFRecord")
        broken.rename(base / "linear" / "3")
        wait_until(lambda: states(server, "linear").get(3) == "END", timeout=120)
        ok_before = traffic.ok
        wait_until(lambda: traffic.ok > ok_before + 5)
    finally:
        traffic.stop.set()
        for worker in workers:
            worker.join()
    assert traffic.failures == []
    status = statuses(server, "linear")
    assert [v for v in status] == [3, 2, 1]  # descending, END entries kept
    assert status[2]["state"] == "AVAILABLE"
    error = status[3]["status"]
    assert isinstance(error, dict)
    assert error["error_code"] == "DATA_LOSS"
    assert "Please verify your warmup data is in TFRecord format." in str(error["error_message"])
    metadata = requests.get(f"{server.rest_url}/v1/models/linear/metadata", timeout=10).json()
    assert metadata["model_spec"]["version"] == "2"
    metrics = requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10).text
    warmed = f':tfkit:serving:model_warmup_records_read{{model_path="{base / "linear" / "2"}",status="OK"}}'
    assert warmed in metrics


def test_grpc_handle_reload_config(server: LiveServer, base: Path, artifacts: Path) -> None:
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    copy_version(artifacts / "models" / "ctr" / "1", base / "ctr", 7)
    request = model_management_pb2.ReloadConfigRequest()
    for name in ("linear", "ctr"):
        entry = request.config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base / name), "tensorflow"
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=120
        )
        assert response.status.error_code == 0
        # Blocking semantics: ctr is AVAILABLE as soon as the RPC returns.
        assert states(server, "ctr") == {7: "AVAILABLE"}
        del request.config.model_config_list.config[1]
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=120
        )
        assert response.status.error_code == 0
    wait_until(lambda: states(server, "ctr") == {7: "END"})
    r = requests.post(f"{server.rest_url}/v1/models/ctr:predict", json={"instances": [1]}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (404, "Servable not found for request: Latest(ctr)")
