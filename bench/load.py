"""Load generation for the serving benchmark: wrk (REST) and h2load (gRPC), always separate processes.

Both tools run against a `tfkit serve` subprocess started here; results are parsed into `LoadResult`
(throughput, latency percentiles, failures). wrk reports percentiles itself (`--latency`); h2load writes
one line per request (`--log-file`), from which the percentiles are computed exactly. Runs under load use
h2load for both transports (HTTP/1.1 with --h1); wrk measures the sequential runs, and hey joins it in
the load-tool cross-check.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.launcher import LiveServer, running_server

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class LoadResult:
    """One load run: requests per second and latency percentiles in milliseconds."""

    tool: str
    connections: int
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def by_clients(
    load: Callable[[LiveServer, int, float], LoadResult], server: LiveServer, seconds: float
) -> Callable[[int], LoadResult]:
    """`load` on `server` for `seconds`, as a function of the client count."""

    def run(clients: int) -> LoadResult:
        return load(server, clients, seconds)

    return run


def repeated(
    load: Callable[[int], LoadResult], clients: tuple[int, ...], repeats: int
) -> list[dict[str, Any]]:
    """`load(c)` for each client count, the counts interleaved (32, 128, 32, 128, ...) `repeats` times, so
    that a drift of the shared machine falls on every count alike. Per count: the run with the median
    throughput (its percentiles with it), and every run's req/s in `rps_runs`."""
    runs: dict[int, list[LoadResult]] = {c: [] for c in clients}
    for _ in range(repeats):
        for c in clients:
            runs[c].append(load(c))
    out = []
    for c in clients:
        median = sorted(runs[c], key=lambda r: r.rps)[len(runs[c]) // 2]
        out.append({**median.as_dict(), "rps_runs": [r.rps for r in runs[c]]})
    return out


def one_row(model: str, artifacts: Path) -> dict[str, np.ndarray]:
    """One real row of a kit model's serving_default inputs (the load the benchmarks send)."""
    from export.samples import sample_inputs

    return {k: v[:1] for k, v in sample_inputs(model, artifacts, n=1, seed=0).items()}


@contextlib.contextmanager
def serving(
    artifacts: Path, *extra: str, models: tuple[str, ...] = ("linear", "ctr")
) -> Iterator[LiveServer]:
    """`tfkit serve` with the kit's config over `artifacts`, ready (every model AVAILABLE) on entry."""
    flags = [
        "--model_config_file=serving/models.config",
        "--monitoring_config_file=serving/monitoring.config",
        f"--tfkit_path_map=/models={artifacts.resolve() / 'models'}",
        *extra,
    ]
    with running_server(flags, wait_models=models, timeout=300) as server:
        yield server


def failed_requests(server: LiveServer) -> int:
    """Failed requests the server counted (its Prometheus request_count): h2load cannot see gRPC status.

    CANCELLED is left out: h2load resets the streams still in flight when its duration ends.
    """
    import requests

    text = requests.get(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics", timeout=30).text
    pattern = r'^:tensorflow:serving:request_count\{model_name="[^"]*",status="(\w+)"\} ([\d.e+]+)$'
    counts = re.findall(pattern, text, re.M)
    return sum(int(float(n)) for status, n in counts if status not in ("OK", "CANCELLED"))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (apt-get install {name})")
    return path


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(text: str, connections: int, seconds: float) -> LoadResult:
    """wrk --latency output -> LoadResult (non-2xx responses and socket errors count as failures)."""
    percentiles = {
        m[0]: _to_ms(m[1], m[2]) for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    }
    total = re.search(r"(\d+) requests in", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if total is None or rps is None or "50" not in percentiles:
        raise RuntimeError(f"could not parse wrk output:\n{text}")
    failures = int(non_2xx.group(1)) if non_2xx else 0
    failures += sum(int(g) for g in errors.groups()) if errors else 0
    return LoadResult(
        "wrk", connections, seconds, int(total.group(1)), failures, float(rps.group(1)),
        percentiles["50"], percentiles.get("99", float("nan")),
    )  # fmt: skip


def run_wrk(url: str, body: bytes, connections: int, seconds: float, work: Path) -> LoadResult:
    """POST `body` to `url` from `connections` keep-alive connections for `seconds`."""
    body_file = work / "wrk-body.json"
    body_file.write_bytes(body)
    script = work / "wrk-post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = io.open("{body_file}", "rb"):read("*a")\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = max(1, min(2, connections))
    argv = [require_tool("wrk"), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
            "--timeout", "10s", "-s", str(script), url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout, connections, seconds)


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def _h2load(url: str, headers: list[str], payload: bytes, connections: int, seconds: float, work: Path,
            h1: bool) -> LoadResult:  # fmt: skip
    """Requests (one at a time per connection) with h2load; exact percentiles from its per-request log."""
    body = work / f"h2load-{'h1' if h1 else 'h2'}-payload.bin"
    body.write_bytes(payload)
    log = work / f"h2load-{connections}.log"
    log.unlink(missing_ok=True)  # h2load appends to an existing log
    threads = 2 if connections > 1 else 1
    tool = "h2load --h1" if h1 else "h2load"
    flags = [*(["--h1"] if h1 else []), f"--duration={seconds:g}", "--warm-up-time=1", f"-c{connections}",
             "-m1", f"-t{threads}", *(a for h in headers for a in ("-H", h))]  # fmt: skip
    argv = [require_tool("h2load"), *flags, "-d", str(body), f"--log-file={log}", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    rows = np.loadtxt(log, dtype=np.int64, ndmin=2) if log.stat().st_size else np.zeros((0, 3), np.int64)
    ok = rows[:, 1] == 200 if len(rows) else np.zeros(0, bool)
    latencies_ms = rows[ok, 2] / 1000.0 if len(rows) else np.zeros(0)
    failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", done.stdout)
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", done.stdout)
    if rate is None:
        raise RuntimeError(f"could not parse h2load output:\n{done.stdout}")
    failures = int(len(rows) - ok.sum()) + (sum(int(g) for g in failed.groups()) if failed else 0)
    return LoadResult(
        tool, connections, seconds, int(ok.sum()), failures, float(rate.group(1)),
        float(np.percentile(latencies_ms, 50)) if len(latencies_ms) else float("nan"),
        float(np.percentile(latencies_ms, 99)) if len(latencies_ms) else float("nan"),
    )  # fmt: skip


def run_h2load(
    target: str, method: str, message: bytes, connections: int, seconds: float, work: Path
) -> LoadResult:
    """Unary gRPC calls (one stream per connection at a time) with h2load."""
    headers = ["content-type: application/grpc", "te: trailers"]
    return _h2load(
        f"http://{target}{method}", headers, grpc_frame(message), connections, seconds, work, False
    )


def run_h2load_rest(url: str, body: bytes, connections: int, seconds: float, work: Path) -> LoadResult:
    """POST `body` to `url` over HTTP/1.1 keep-alive connections with h2load --h1: the same tool, per-request
    log and percentiles as the gRPC runs (wrk's own tail at 128 connections is not the server's; see
    `bench.serving.load_tools`)."""
    return _h2load(url, ["content-type: application/json"], body, connections, seconds, work, h1=True)


def run_hey(url: str, body: bytes, connections: int, seconds: float, work: Path) -> LoadResult:
    """POST `body` with hey (Go's HTTP client): a third load generator for the cross-check."""
    body_file = work / "hey-body.json"
    body_file.write_bytes(body)
    argv = [require_tool("hey"), "-z", f"{seconds:g}s", "-c", str(connections), "-m", "POST",
            "-T", "application/json", "-D", str(body_file), url]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    cuts = {m[0]: float(m[1]) * 1000 for m in re.findall(r"(50|99)% in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    if rate is None or "50" not in cuts:
        raise RuntimeError(f"could not parse hey output:\n{out}")
    ok = codes.get(200, 0)
    return LoadResult("hey", connections, seconds, ok, sum(codes.values()) - ok, float(rate.group(1)),
                      cuts["50"], cuts.get("99", float("nan")))  # fmt: skip
