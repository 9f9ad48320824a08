"""Config reloads that add, remove and relabel models while REST and gRPC clients call the server.

Both reload paths: the polled `--model_config_file` (upstream model_servers/server.cc
PollFilesystemAndReloadConfig) and HandleReloadConfigRequest over gRPC (model_service_impl.cc). Requests to
a removed model get NOT_FOUND; every other request succeeds; a relabel moves label traffic to the other
version without a failed request (upstream server_core.cc: labels resolve per request).
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from serving.launcher import running_server
from tests.chaos.traffic import BATCHING_FLAGS, traffic, version_states, wait_until
from tests.support.half_plus_two import write_half_plus_two

pytestmark = pytest.mark.live
# The configs label versions at startup, which server_core.cc refuses unless this flag is set
# (UpdateModelVersionLabelMap runs before the models are added).
LABELS_AT_START = ("--allow_version_labels_for_unavailable_models=true",)


def model_config(base: Path, models: dict[str, int | None]) -> model_server_config_pb2.ModelServerConfig:
    """`labeled` serves versions 1 and 2 with label stable -> the given version; others serve latest."""
    config = model_server_config_pb2.ModelServerConfig()
    for name, stable in models.items():
        entry = config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base / name), "tensorflow"
        if stable is not None:
            entry.model_version_policy.specific.versions.extend([1, 2])
            entry.version_labels["stable"] = stable
    return config


def write_config(path: Path, config: model_server_config_pb2.ModelServerConfig) -> None:
    from google.protobuf import text_format

    staging = path.with_suffix(".tmp")
    staging.write_text(text_format.MessageToString(config))
    os.replace(staging, path)


def grpc_reload(target: str, config: model_server_config_pb2.ModelServerConfig) -> int:
    """HandleReloadConfigRequest; returns the reply's error code."""
    with grpc.insecure_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = model_management_pb2.ReloadConfigRequest(config=config)
        return int(stub.HandleReloadConfigRequest(request, timeout=120).status.error_code)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    write_half_plus_two(tmp_path / "labeled", 1, offset=1.0)
    write_half_plus_two(tmp_path / "labeled", 2, offset=2.0)
    write_half_plus_two(tmp_path / "doomed", 1, offset=5.0)
    write_half_plus_two(tmp_path / "newcomer", 1, offset=7.0)
    return tmp_path


def test_file_poll_reload_adds_removes_relabels(base: Path) -> None:
    config_file = base / "models.config"
    write_config(config_file, model_config(base, {"labeled": 1, "doomed": None}))
    poll = "--model_config_file_poll_wait_seconds=1"
    flags = [f"--model_config_file={config_file}", poll, *LABELS_AT_START]
    with running_server(flags, wait_models=["labeled", "doomed"]) as server:
        server.wait_for("labeled", version=1)  # startup waits for the highest version only
        with (
            traffic(server, "labeled", label="stable") as stable,
            traffic(server, "doomed", expect_not_found=True) as doomed,
        ):
            write_config(config_file, model_config(base, {"labeled": 2, "newcomer": None}))
            wait_until(lambda: version_states(server, "newcomer") == {1: "AVAILABLE"}, 120, "newcomer")
            wait_until(lambda: version_states(server, "doomed") == {1: "END"}, 120, "doomed removed")
            wait_until(lambda: stable.count(2.0) >= 20, 60, "stable -> version 2")
            wait_until(lambda: doomed.not_found >= 10, 60, "NOT_FOUND for the removed model")
        with traffic(server, "newcomer") as newcomer:
            newcomer.wait_more(10)
    assert stable.failures == [] and doomed.failures == [] and newcomer.failures == []
    assert stable.offsets() == {1.0, 2.0} and set(stable.switches) == {(1.0, 2.0)}
    assert newcomer.offsets() == {7.0}
    assert "Traceback" not in server.log()


def test_grpc_reload_adds_removes_relabels(base: Path) -> None:
    flags = [f"--model_config_file={base / 'models.config'}", *BATCHING_FLAGS, *LABELS_AT_START]
    write_config(base / "models.config", model_config(base, {"labeled": 2, "doomed": None}))
    with running_server(flags, wait_models=["labeled", "doomed"]) as server:
        server.wait_for("labeled", version=1)  # moving a label needs an AVAILABLE target
        with (
            traffic(server, "labeled", label="stable") as stable,
            traffic(server, "doomed", expect_not_found=True) as doomed,
        ):
            assert grpc_reload(server.grpc_target, model_config(base, {"labeled": 1, "newcomer": None})) == 0
            # Blocking, as upstream: the new model is AVAILABLE when the RPC returns.
            assert version_states(server, "newcomer") == {1: "AVAILABLE"}
            wait_until(lambda: version_states(server, "doomed") == {1: "END"}, 120, "doomed removed")
            wait_until(lambda: stable.count(1.0) >= 20, 60, "stable -> version 1")
            wait_until(lambda: doomed.not_found >= 10, 60, "NOT_FOUND for the removed model")
    assert stable.failures == [] and doomed.failures == []
    assert stable.offsets() == {1.0, 2.0} and set(stable.switches) == {(2.0, 1.0)}
    assert "Traceback" not in server.log()
