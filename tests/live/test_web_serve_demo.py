"""`python -m web.serve_demo` end to end: starts its own `tfkit serve` with CORS on, serves the page and the
bundles, prints the URL, and Ctrl-C (SIGINT) stops both processes."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.server import REPO

pytestmark = pytest.mark.live
URL_LINE = re.compile(r"^demo: (http://127\.0\.0\.1:\d+)/ +\(TF Serving REST (http://127\.0\.0\.1:\d+);")


@contextlib.contextmanager
def demo_process(artifacts: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    argv = [
        sys.executable,
        "-m",
        "web.serve_demo",
        "--artifacts",
        str(artifacts),
        "--port",
        "0",
        "--samples",
        "2",
    ]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # EOF

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_url(lines: queue.Queue[str], timeout: float = 240.0) -> tuple[str, str]:
    """Readiness = the demo printed its URL (it does so after tfkit serve has both models AVAILABLE)."""
    seen = []
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        match = URL_LINE.match(line)
        if match:
            return match.group(1), match.group(2)
        if line == "":
            raise AssertionError("serve_demo exited before printing its URL:\n" + "".join(seen))


def test_make_demo_serves_page_bundles_and_a_cors_server_then_stops_on_ctrl_c(artifacts: Path) -> None:
    with demo_process(artifacts) as (proc, lines):
        page_url, server_url = wait_for_url(lines)

        assert "tf-converter.min.js" in requests.get(f"{page_url}/", timeout=10).text
        config = requests.get(f"{page_url}/config.json", timeout=10).json()
        assert config["server"] == server_url
        assert {"linear", "ctr"} <= set(config["models"])
        samples = requests.get(f"{page_url}/samples.json", timeout=10).json()
        assert len(samples["ctr"]) == 2 and len(samples["ctr"][0]["feature"]) == 121
        model_json = requests.get(f"{page_url}/tfjs/ctr/float32/model.json", timeout=10)
        assert model_json.status_code == 200 and "weightsManifest" in model_json.json()

        origin = {"Origin": page_url}
        preflight = requests.options(f"{server_url}/v1/models/linear:predict", headers=origin, timeout=10)
        assert preflight.status_code == 200
        predicted = requests.post(
            f"{server_url}/v1/models/linear:predict",
            json={"inputs": {"x": [[1.0]]}},
            headers=origin,
            timeout=10,
        )
        assert predicted.status_code == 200, predicted.text
        assert predicted.headers["Access-Control-Allow-Origin"] == "*"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server_url}/v1/models/linear", timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{page_url}/", timeout=5)


def test_demo_names_a_missing_bundle_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "web.serve_demo", "--artifacts", str(tmp_path), "--no-server"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{tmp_path / 'tfjs'} does not exist" in done.stderr
