"""TFSERVING_TARGET=docker without a Docker engine ends in one clear error, not a hang or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.targets import DockerUnreachable, docker_endpoint, pair_config
from tests.support.server import REPO

NO_ENGINE = "unix:///nonexistent/tfkit-contract/docker.sock"


def test_docker_target_without_an_engine_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    with pytest.raises(DockerUnreachable) as info, docker_endpoint(tmp_path / "artifacts", tmp_path / "work"):
        pass
    message = str(info.value)
    assert message.startswith("no Docker engine reachable")
    assert "unset TFSERVING_TARGET" in message
    assert not (tmp_path / "work").exists()  # nothing was copied before the engine answered


def test_the_suite_under_tfserving_target_docker_stops_with_that_error(artifacts: Path) -> None:
    env = {
        **os.environ,
        "TFSERVING_TARGET": "docker",
        "DOCKER_HOST": NO_ENGINE,
        "TFKIT_ARTIFACTS": str(artifacts),
    }
    env.pop("TFSERVING_REST_URL", None)
    env.pop("TFSERVING_GRPC_TARGET", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "tests/contract/test_contract_cases.py",
            "-k",
            "status-linear",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "no Docker engine reachable" in result.stdout, result.stdout[-3000:]


def test_pair_config_names_both_labels() -> None:
    text = pair_config("/models")
    assert 'base_path: "/models/pair"' in text
    assert 'version_labels { key: "stable" value: 1 }' in text
    assert 'version_labels { key: "canary" value: 2 }' in text
