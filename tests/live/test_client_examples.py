"""The examples/ scripts, run as users run them, against a live `tfkit serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO, LiveServer


def run_example(script: str, *args: str) -> list[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"{script} exited {result.returncode}:\n{result.stdout}\n{result.stderr[-3000:]}"
    )
    return result.stdout.strip().splitlines()


def test_rest_predict_linear(live_server: LiveServer, artifacts: Path) -> None:
    from export.manifest import load_manifest

    metrics = load_manifest(artifacts)["models"]["linear"]["metrics"]
    lines = run_example("rest_predict_linear.py", "--rest", live_server.rest_url, "--x", "1", "-2.5")
    got = [tuple(float(v) for v in re.fullmatch(r"x=(\S+) y=(\S+)", line).groups()) for line in lines]  # type: ignore[union-attr]
    assert [x for x, _ in got] == [1.0, -2.5]
    for x, y in got:
        assert y == pytest.approx(metrics["w"] * x + metrics["b"], abs=1e-3)


def test_grpc_predict_ctr(live_server: LiveServer, artifacts: Path) -> None:
    for extra in ([], ["--artifacts", str(artifacts)]):
        lines = run_example("grpc_predict_ctr.py", "--grpc", live_server.grpc_target, "--rows", "4", *extra)
        assert len(lines) == 4
        for line in lines:
            found = re.fullmatch(r"user=\d+ article=\d+ p_click=(\S+)", line)
            assert found and 0.0 < float(found.group(1)) < 1.0, line


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_classify_examples(live_server: LiveServer, transport: str) -> None:
    target = live_server.rest_url if transport == "rest" else live_server.grpc_target
    lines = run_example("classify_examples.py", f"--{transport}", target, "--rows", "3")
    classified = [line for line in lines if line.startswith("example ")]
    assert len(classified) == 3
    for line in classified:
        scores = [float(s) for s in re.findall(r"score=(\S+)", line)]
        assert re.findall(r"class=(\S+)", line) == ["0", "1"] and sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert len([line for line in lines if line.startswith("regress ")]) == 2
