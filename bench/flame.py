"""Flame graphs of `tfkit serve` under one-connection load (py-spy, a dev dependency): where a request's
time goes. `record(server, load, path)` samples the server process while `load()` runs and writes an SVG;
`--nonblocking` keeps the sampler from pausing the server, so latency stays what the load measures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from serving.launcher import LiveServer

T = TypeVar("T")
RATE_HZ = 500


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(server: LiveServer, load: Callable[[], T], seconds: float, path: Path) -> T:
    """Run `load()` while py-spy samples the server for `seconds`; the SVG goes to `path`."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[dev]')")
    argv = [tool, "record", "--pid", str(server.process.pid), "--duration", f"{seconds:g}", "--rate",
            str(RATE_HZ), "--nonblocking", "--format", "flamegraph", "--output", str(path)]  # fmt: skip
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        result = load()
    finally:
        _, err = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
    return result
