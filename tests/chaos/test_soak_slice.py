"""A bounded slice of the soak (bench/soak.py, `make soak` runs the full 10 minutes): ~15 s of mixed REST
and gRPC traffic at 70% of the measured maximum while new versions arrive and the config is reloaded
over gRPC. Zero failed requests, every answer from a published version, no server traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.soak import main

pytestmark = pytest.mark.live


def test_soak_slice(tmp_path: Path) -> None:
    argv = ["--seconds=15", "--measure-seconds=2", "--workers=4", "--version-every=6", "--reload-every=7"]
    code = main([*argv, "--warmup-seconds=5", "--sample-every=1", "--window=2", f"--out={tmp_path}"])
    result = json.loads((tmp_path / "soak.json").read_text())
    assert (code, result["errors"], result["error_samples"]) == (0, 0, [])
    assert result["requests_rest"] > 0 and result["requests_grpc"] > 0
    assert result["versions_published"] >= 2 and result["config_reloads"] >= 2
    assert result["server_tracebacks"] == 0
    assert (tmp_path / "soak.png").stat().st_size > 0
