"""Live `tfkit serve` with a polled --model_config_file: labels set by a poll once their versions are
AVAILABLE (server_core.cc checks labels before loading, so a labelled startup config would fail), version
labels over REST, config edits picked up by polling (labels moved, a model added), and a broken config
file keeping the old config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live.test_lifecycle_transitions import copy_version, states
from tests.support.server import LiveServer, running_server
from tests.unit.test_core_manager import wait_until

pytestmark = pytest.mark.live


def write_config(path: Path, base: Path, labels: dict[str, int], with_ctr: bool) -> None:
    label_text = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in labels.items())
    ctr = f'  config {{ name: "ctr" base_path: "{base / "ctr"}" model_platform: "tensorflow" }}\n'
    text = (
        "model_config_list {\n"
        f'  config {{\n    name: "linear"\n    base_path: "{base / "linear"}"\n'
        '    model_platform: "tensorflow"\n    model_version_policy { all {} }\n'
        f"{label_text}  }}\n{ctr if with_ctr else ''}}}\n"
    )
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    staging.replace(path)


@pytest.fixture(scope="module")
def setup(
    artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    base = tmp_path_factory.mktemp("config-lifecycle")
    for version in (1, 2):
        copy_version(artifacts / "models" / "linear" / "1", base / "linear", version)
    copy_version(artifacts / "models" / "ctr" / "1", base / "ctr", 1)
    config = base / "models.config"
    write_config(config, base, {}, with_ctr=False)
    flags = [
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    ]
    with running_server(flags, wait_models=["linear"]) as server:
        wait_until(lambda: states(server, "linear") == {2: "AVAILABLE", 1: "AVAILABLE"}, 120)
        write_config(config, base, {"stable": 1, "canary": 2}, with_ctr=False)  # step two: the labels
        wait_until(lambda: labelled(server, "canary"), 60)
        yield server, base, config


def labelled(server: LiveServer, label: str) -> bool:
    r = requests.get(f"{server.rest_url}/v1/models/linear/labels/{label}/metadata", timeout=10)
    return r.status_code == 200


def label_version(server: LiveServer, label: str) -> str:
    r = requests.get(f"{server.rest_url}/v1/models/linear/labels/{label}/metadata", timeout=10)
    r.raise_for_status()
    return str(r.json()["model_spec"]["version"])


def test_labels_over_rest(setup: tuple[LiveServer, Path, Path]) -> None:
    server, _, _ = setup
    assert states(server, "linear") == {2: "AVAILABLE", 1: "AVAILABLE"}
    assert (label_version(server, "stable"), label_version(server, "canary")) == ("1", "2")
    body = {"instances": [[1.0]]}
    r = requests.post(f"{server.rest_url}/v1/models/linear/labels/stable:predict", json=body, timeout=10)
    assert r.status_code == 200
    r = requests.post(f"{server.rest_url}/v1/models/linear/labels/nope:predict", json=body, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "Unrecognized servable version label: nope")


def test_config_file_polling(setup: tuple[LiveServer, Path, Path]) -> None:
    server, base, config = setup
    write_config(config, base, {"stable": 2}, with_ctr=True)
    wait_until(lambda: requests.get(f"{server.rest_url}/v1/models/ctr", timeout=10).status_code == 200, 120)
    wait_until(lambda: states(server, "ctr") == {1: "AVAILABLE"}, 120)
    assert label_version(server, "stable") == "2"
    r = requests.get(f"{server.rest_url}/v1/models/linear/labels/canary/metadata", timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "Unrecognized servable version label: canary")
    # A config file that no longer parses is logged and the running config is kept.
    config.write_text("model_config_list { config { name: ")
    wait_until(lambda: "Failed to read ModelServerConfig file: Invalid protobuf file" in server.log(), 60)
    assert states(server, "ctr") == {1: "AVAILABLE"}
    assert label_version(server, "stable") == "2"
