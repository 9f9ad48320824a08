"""`--tfkit_workers` in the serving benchmark: throughput per worker count, and memory per worker.

For each worker count (1, 2) and batching off / on, back to back: start `tfkit serve --tfkit_workers=N`,
wait until every worker has opened its ports (each logs `Exporting HTTP/REST API`), read each worker's
resident memory (VmRSS), then run the same wrk (REST) and h2load (gRPC) loads as the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.load import LoadResult, by_clients, serving
from serving.launcher import LiveServer

WORKER_COUNTS = (1, 2)
BATCHING = ("--enable_batching=true", "--batching_parameters_file=serving/batching.config")
READY_LINE = "Exporting HTTP/REST API"


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pids(server: LiveServer, count: int) -> list[int]:
    """The processes serving: the server itself (1 worker) or its worker children (spawn also starts a
    small resource-tracker child, which is not a worker and is left out by its command line)."""
    if count == 1:
        return [server.process.pid]
    pids = []
    for pid in _children(server.process.pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            pids.append(pid)
    return pids


def wait_workers(server: LiveServer, count: int, timeout: float = 300.0) -> None:
    """Until `count` workers logged that their REST port is open (the launcher saw only the first)."""
    end = time.monotonic() + timeout
    while server.log().count(READY_LINE) < count:
        if server.process.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f"workers did not all start:\n{server.log()[-3000:]}")
        time.sleep(0.1)


def worker_sweep(
    artifacts: Path,
    points: Callable[[Callable[[int], LoadResult]], list[dict[str, Any]]],
    seconds: float,
    rest_load: Callable[[LiveServer, int, float], LoadResult],
    grpc_load: Callable[[LiveServer, int, float], LoadResult],
) -> dict[str, Any]:
    """{"unbatched"|"batched": {"<workers>": {"rest": [per clients], "grpc": [...], "rss_mb"}}}; `points`
    runs one load at the client counts (bench.serving.tail_points)."""
    results: dict[str, Any] = {}
    for mode, extra in (("unbatched", ()), ("batched", BATCHING)):
        results[mode] = {}
        for count in WORKER_COUNTS:
            with serving(artifacts, *extra, f"--tfkit_workers={count}", models=("ctr",)) as server:
                wait_workers(server, count)
                rss = [rss_mb(pid) for pid in worker_pids(server, count)]
                results[mode][str(count)] = {
                    "rest": points(by_clients(rest_load, server, seconds)),
                    "grpc": points(by_clients(grpc_load, server, seconds)),
                    "rss_mb": rss,
                }
    return results
