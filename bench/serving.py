"""Serving benchmark (`make bench`, adapters area): the REST / gRPC layers' cost and what batching buys.

1. Sequential latency (one client, one request at a time, 1 row): REST (wrk -c1) and gRPC (h2load -c1)
   against `tfkit serve`, and the same SavedModel signature called in-process; overhead = p50(server) -
   p50(in-process). Goals (issue 12): <= 0.30 ms REST, <= 0.55 ms gRPC. Measured back to back with the
   transport floor: the same server stacks answering without any model (bench/floor.py).
2. Throughput, p50 and p99 at 1, 8, 32 and 128 concurrent clients for ctr (1 row per request), batching
   off and on (serving/batching.config); h2load for both (REST over HTTP/1.1), exact percentiles from
   its per-request log. Goals: batching >= 2x unbatched throughput at 32 clients; p99 <= 25 ms and
   p99/p50 <= 5 at 32 and 128 clients. The 32- and 128-client points run 3 times, interleaved, and the
   median-throughput run is reported with the range. Next to them: the same REST load from wrk, hey and
   h2load (the load-tool cross-check), and the bare stacks' floor under the same load.
3. `--tfkit_workers` 1 and 2, back to back: 32- and 128-client throughput and tail, batching off and on,
   and each worker's RSS; the tail goal is judged on these configurations too.

The machine's load average is recorded before and after (it is shared).

Load always comes from separate processes (wrk, h2load, hey); the server is a `tfkit serve` subprocess.
Results go to `<out>/serving.json` and `<out>/serving.png`; `run` returns the Markdown section.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.flame import record
from bench.floor import floor_servers
from bench.load import (
    LoadResult,
    by_clients,
    failed_requests,
    one_row,
    repeated,
    run_h2load,
    run_h2load_rest,
    run_hey,
    run_wrk,
    serving,
)
from bench.serving_report import markdown, plot, tail
from bench.workers import worker_sweep
from serving.launcher import LiveServer

CONCURRENCY = (1, 8, 32, 128)
TAIL_LOAD = (32, 128)  # the tail goal's client counts
TAIL_REPEATS = 3  # interleaved runs per tail point; the median-throughput run is reported
SEQUENTIAL_SECONDS = 5.0
SWEEP_SECONDS = 8.0
FLAME_SECONDS = 5.0
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def _rest_body(inputs: dict[str, np.ndarray]) -> bytes:
    rows = [{k: v[i].tolist() for k, v in inputs.items()} for i in range(len(next(iter(inputs.values()))))]
    if len(inputs) == 1:
        rows = [next(iter(r.values())) for r in rows]
    return json.dumps({"instances": rows}).encode()


def _grpc_message(model: str, inputs: dict[str, np.ndarray]) -> bytes:
    from tensorflow_serving.apis import predict_pb2

    from serving.grpc.codec import tensor_proto_from_numpy

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for alias, arr in inputs.items():
        request.inputs[alias].CopyFrom(tensor_proto_from_numpy(arr))
    return request.SerializeToString()


def _check_grpc(server: LiveServer, message: bytes) -> None:
    """h2load sees HTTP 200 even when gRPC fails: prove the payload succeeds once first."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(PREDICT_METHOD, request_serializer=None, response_deserializer=None)
        call(message, timeout=30)


def _timed(call: Callable[[], object], seconds: float) -> dict[str, float]:
    """p50/p99 (ms) of repeated sequential calls for `seconds` (first 10% dropped as warm-up)."""
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 200:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples = samples[len(samples) // 10 :]
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": float(np.percentile(samples, 99)),
        "calls": len(samples),
    }


def in_process_latency(
    artifacts: Path, model: str, inputs: dict[str, np.ndarray], seconds: float
) -> dict[str, dict[str, float]]:
    """The same signature called in-process: through TensorFlow's SavedModel signature API (the baseline
    for the overhead goals) and through the kit's own servable runner (what the server calls)."""
    import tensorflow as tf

    from serving.servable import Servable

    path = str(artifacts / json.loads((artifacts / "manifest.json").read_text())["models"][model]["path"])
    fn = tf.saved_model.load(path).signatures["serving_default"]

    def signature_call() -> object:
        return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

    runner = Servable.load(model, 0, path).predict_runner("serving_default")
    return {
        "signature": _timed(signature_call, seconds),
        "runner": _timed(lambda: runner.run(inputs), seconds),
    }


def _grpc_load(server: LiveServer, message: bytes, clients: int, seconds: float, work: Path) -> LoadResult:
    """h2load run whose failures include the gRPC errors the server counted meanwhile."""
    before = failed_requests(server)
    result = run_h2load(f"127.0.0.1:{server.grpc_port}", PREDICT_METHOD, message, clients, seconds, work)
    return dataclasses.replace(result, failures=result.failures + failed_requests(server) - before)


def _sequential(artifacts: Path, server: LiveServer, work: Path) -> dict[str, Any]:
    """Per model: in-process, the kit (REST, gRPC) and the bare transport floor, back to back."""
    results: dict[str, Any] = {}
    with floor_servers() as (floor_rest, floor_grpc):
        for model in ("linear", "ctr"):
            inputs = one_row(model, artifacts)
            body, message = _rest_body(inputs), _grpc_message(model, inputs)
            _check_grpc(server, message)
            url = f"http://127.0.0.1:{server.rest_port}/v1/models/{model}:predict"
            rest = run_wrk(url, body, 1, SEQUENTIAL_SECONDS, work)
            bare_rest = run_wrk(f"http://127.0.0.1:{floor_rest}/v1/models/{model}:predict", body, 1,
                                SEQUENTIAL_SECONDS, work)  # fmt: skip
            grpc = _grpc_load(server, message, 1, SEQUENTIAL_SECONDS, work)
            bare_grpc = run_h2load(f"127.0.0.1:{floor_grpc}", PREDICT_METHOD, message, 1, SEQUENTIAL_SECONDS,
                                   work)  # fmt: skip
            local = in_process_latency(artifacts, model, inputs, SEQUENTIAL_SECONDS)
            base = local["signature"]["p50_ms"]
            results[model] = {
                "in_process": local,
                "rest": rest.as_dict(),
                "grpc": grpc.as_dict(),
                "floor": {"rest": bare_rest.as_dict(), "grpc": bare_grpc.as_dict()},
                "rest_overhead_ms": rest.p50_ms - base,
                "grpc_overhead_ms": grpc.p50_ms - base,
                # what the kit adds above the bare stack plus its own model call
                "rest_above_floor_ms": rest.p50_ms - bare_rest.p50_ms - local["runner"]["p50_ms"],
                "grpc_above_floor_ms": grpc.p50_ms - bare_grpc.p50_ms - local["runner"]["p50_ms"],
            }
    return results


class CtrLoad:
    """The sweep's loads: ctr, 1 row per request, REST through wrk and gRPC through h2load."""

    def __init__(self, artifacts: Path, work: Path) -> None:
        inputs = one_row("ctr", artifacts)
        self.body, self.message, self.work = _rest_body(inputs), _grpc_message("ctr", inputs), work

    def url(self, server: LiveServer) -> str:
        return f"http://127.0.0.1:{server.rest_port}/v1/models/ctr:predict"

    def rest(self, server: LiveServer, clients: int, seconds: float) -> LoadResult:
        return run_h2load_rest(self.url(server), self.body, clients, seconds, self.work)

    def grpc(self, server: LiveServer, clients: int, seconds: float) -> LoadResult:
        return _grpc_load(server, self.message, clients, seconds, self.work)


def tail_points(load: Callable[[int], LoadResult]) -> list[dict[str, Any]]:
    """The tail goal's client counts, TAIL_REPEATS interleaved runs each (bench.load.repeated): one 8 s run
    moves by +-10% on this shared machine, enough to flip "throughput not falling from 32 to 128"."""
    return repeated(load, TAIL_LOAD, TAIL_REPEATS)


def _sweep(load: CtrLoad, server: LiveServer) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for transport in ("rest", "grpc"):
        run = by_clients(getattr(load, transport), server, SWEEP_SECONDS)
        out[transport] = [run(c).as_dict() for c in CONCURRENCY if c not in TAIL_LOAD]
        out[transport] += tail_points(run)
    return out


def load_tools(load: CtrLoad, server: LiveServer, clients: int = 128) -> dict[str, Any]:
    """The same REST load from three generators (wrk, hey, h2load --h1), back to back on one server.

    On this machine wrk reports a p99 of ~1-3 s at 128 connections, and a mean above clients/throughput
    (Little's law bounds the mean latency of a closed loop), while hey and h2load agree on a p99 of
    ~80-95 ms: the sweep uses h2load, and this table shows the disagreement each run."""
    url = load.url(server)
    runs = (run_wrk, run_hey, run_h2load_rest)
    return {
        r.tool: r.as_dict() for r in (run(url, load.body, clients, SWEEP_SECONDS, load.work) for run in runs)
    }


def floor_load(load: CtrLoad) -> dict[str, list[dict[str, Any]]]:
    """The bare stacks (bench/floor.py: no model, no kit code) under the sweep's load at 32 and 128 clients:
    the throughput and tail one process of uvicorn+httptools / grpc.aio reaches on this machine."""
    with floor_servers() as (rest_port, grpc_port):
        url, target = f"http://127.0.0.1:{rest_port}/v1/models/ctr:predict", f"127.0.0.1:{grpc_port}"
        return {
            "rest": tail_points(lambda c: run_h2load_rest(url, load.body, c, SWEEP_SECONDS, load.work)),
            "grpc": tail_points(
                lambda c: run_h2load(target, PREDICT_METHOD, load.message, c, SWEEP_SECONDS, load.work)
            ),
        }


def run(artifacts: Path, out_dir: Path) -> str:
    """Run the serving benchmark over exported `artifacts`; write JSON + plot to `out_dir`."""
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": {"start": os.getloadavg()},
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "throughput": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tfkit-bench-") as tmp:
        work = Path(tmp)
        load = CtrLoad(artifacts, work)
        with serving(artifacts) as server:
            results["sequential"] = _sequential(artifacts, server, work)
            for transport in ("rest", "grpc"):
                call = functools.partial(getattr(load, transport), server, 1, FLAME_SECONDS)
                record(server, call, FLAME_SECONDS, out_dir / f"serving_flame_{transport}.svg")
            results["throughput"]["unbatched"] = _sweep(load, server)
            results["load_tools"] = load_tools(load, server)
        results["floor_load"] = floor_load(load)
        batching = ("--enable_batching=true", "--batching_parameters_file=serving/batching.config")
        with serving(artifacts, *batching, models=("ctr",)) as server:
            results["throughput"]["batched"] = _sweep(load, server)
        results["workers"] = worker_sweep(artifacts, tail_points, SWEEP_SECONDS, load.rest, load.grpc)
    results["load_average"]["end"] = os.getloadavg()
    results["tail"] = tail(results)
    index = CONCURRENCY.index(32)
    batched, unbatched = results["throughput"]["batched"], results["throughput"]["unbatched"]
    results["batching_speedup_at_32"] = {
        t: batched[t][index]["rps"] / max(unbatched[t][index]["rps"], 1e-9) for t in ("rest", "grpc")
    }
    (out_dir / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out_dir / "serving.png")
    return markdown(results)
