"""Shared fixtures: the exported artifacts every test reads, and a live `tfkit serve` over them.

`make test` exports fresh artifacts first and points TFKIT_ARTIFACTS at them. Run alone, pytest builds
them once per session into a temporary directory with the same pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import REPO, LiveServer, running_server


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding manifest.json, models/, tflite/, tfjs/ from `make export`."""
    given = os.environ.get("TFKIT_ARTIFACTS")
    if given and (Path(given) / "manifest.json").exists():
        return Path(given)
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run([sys.executable, "-m", "export.pipeline", "--artifacts", str(out)], cwd=REPO, check=True)
    return out


def serve_flags(artifacts: Path, *extra: str) -> list[str]:
    """The kit's own serving flags (as `make serve`), with /models mapped onto the artifacts."""
    return [
        "--model_config_file=serving/models.config",
        "--monitoring_config_file=serving/monitoring.config",
        "--enable_grpc_healthcheck_service=true",
        "--rest_api_enable_cors_support=true",
        f"--tfkit_path_map=/models={artifacts / 'models'}",
        *extra,
    ]


@pytest.fixture(scope="session")
def live_server(artifacts: Path) -> Iterator[LiveServer]:
    """One `tfkit serve` over the exported linear and ctr models, shared by read-only tests."""
    with running_server(serve_flags(artifacts), wait_models=["linear", "ctr"]) as server:
        yield server
