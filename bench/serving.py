"""Serving benchmark (`make bench`, adapters area): the REST / gRPC layers' cost and what batching buys.

1. Sequential latency (one client, one request at a time, 1 row): REST (wrk -c1) and gRPC (h2load -c1)
   against `tfkit serve`, and the same SavedModel signature called in-process; overhead = p50(server) -
   p50(in-process). Goals: <= 0.5 ms REST, <= 0.6 ms gRPC.
2. Throughput and p99 at 1, 8, 32 and 128 concurrent clients for ctr (1 row per request), batching off
   and on (serving/batching.config); REST with wrk, gRPC with h2load. Goal: batching >= 2x unbatched
   throughput at 32 clients.

Load always comes from separate processes (wrk, h2load); the server is a `tfkit serve` subprocess.
Results go to `<out>/serving.json` and `<out>/serving.png`; `run` returns the Markdown section.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.load import LoadResult, failed_requests, run_h2load, run_wrk, serving
from serving.launcher import LiveServer

CONCURRENCY = (1, 8, 32, 128)
SEQUENTIAL_SECONDS = 5.0
SWEEP_SECONDS = 10.0
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
REST_GOAL_MS, GRPC_GOAL_MS, BATCHING_GOAL = 0.5, 0.6, 2.0


def _inputs(model: str, artifacts: Path) -> dict[str, np.ndarray]:
    from export.samples import sample_inputs

    return {k: v[:1] for k, v in sample_inputs(model, artifacts, n=1, seed=0).items()}


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
    results: dict[str, Any] = {}
    for model in ("linear", "ctr"):
        inputs = _inputs(model, artifacts)
        message = _grpc_message(model, inputs)
        _check_grpc(server, message)
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{model}:predict"
        rest = run_wrk(url, _rest_body(inputs), 1, SEQUENTIAL_SECONDS, work)
        grpc = _grpc_load(server, message, 1, SEQUENTIAL_SECONDS, work)
        local = in_process_latency(artifacts, model, inputs, SEQUENTIAL_SECONDS)
        results[model] = {
            "in_process": local,
            "rest": rest.as_dict(),
            "grpc": grpc.as_dict(),
            "rest_overhead_ms": rest.p50_ms - local["signature"]["p50_ms"],
            "grpc_overhead_ms": grpc.p50_ms - local["signature"]["p50_ms"],
        }
    return results


def _sweep(artifacts: Path, server: LiveServer, work: Path) -> dict[str, list[dict[str, Any]]]:
    inputs = _inputs("ctr", artifacts)
    body, message = _rest_body(inputs), _grpc_message("ctr", inputs)
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/ctr:predict"
    rest: list[LoadResult] = []
    grpc: list[LoadResult] = []
    for clients in CONCURRENCY:
        rest.append(run_wrk(url, body, clients, SWEEP_SECONDS, work))
        grpc.append(_grpc_load(server, message, clients, SWEEP_SECONDS, work))
    return {"rest": [r.as_dict() for r in rest], "grpc": [g.as_dict() for g in grpc]}


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(11, 4))
    for mode in ("unbatched", "batched"):
        for transport, style in (("rest", "-o"), ("grpc", "--s")):
            rows = results["throughput"][mode][transport]
            clients = [r["connections"] for r in rows]
            ax_rps.plot(clients, [r["rps"] for r in rows], style, label=f"{transport.upper()} {mode}")
            ax_p99.plot(clients, [r["p99_ms"] for r in rows], style, label=f"{transport.upper()} {mode}")
    for ax, title in ((ax_rps, "ctr throughput (req/s, 1 row each)"), (ax_p99, "ctr p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(CONCURRENCY), [str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrent clients")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cell(row: dict[str, Any]) -> str:
    failed = f" ({row['failures']} failed)" if row["failures"] else ""
    return f"{row['rps']:.0f} / {row['p99_ms']:.1f}{failed}"


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Serving (tfkit serve: REST + gRPC adapters, batching)",
        "",
        f"Machine: {results['cpus']} CPUs (shared); load from wrk (REST) and h2load (gRPC) in separate "
        "processes.",
        "",
        "### Sequential latency, 1 row (p50 / p99 ms)",
        "",
        "In-process = the same `serving_default` signature called through TensorFlow's SavedModel API",
        "(the overhead goals' baseline); the kit's servable runner (what the server calls) is shown too.",
        "",
        "| model | in-process (TF API) | in-process (kit runner) | REST | gRPC "
        "| REST overhead (goal <= 0.5) | gRPC overhead (goal <= 0.6) |",
        "|---|---|---|---|---|---|---|",
    ]

    def pair(d: dict[str, Any]) -> str:
        return f"{d['p50_ms']:.3f} / {d['p99_ms']:.3f}"

    def verdict(value: float, goal: float) -> str:
        return f"{value:.3f} {'met' if value <= goal else 'MISSED'}"

    for model, r in results["sequential"].items():
        lines.append(
            f"| {model} | {pair(r['in_process']['signature'])} | {pair(r['in_process']['runner'])} "
            f"| {pair(r['rest'])} | {pair(r['grpc'])} | {verdict(r['rest_overhead_ms'], REST_GOAL_MS)} "
            f"| {verdict(r['grpc_overhead_ms'], GRPC_GOAL_MS)} |"
        )
    lines += ["", "### ctr throughput (req/s) and p99 (ms) by concurrent clients", "",
              "| transport | batching | " + " | ".join(f"{c} clients" for c in CONCURRENCY) + " |",
              "|---|---|" + "---|" * len(CONCURRENCY)]  # fmt: skip
    for transport in ("rest", "grpc"):
        for mode in ("unbatched", "batched"):
            rows = results["throughput"][mode][transport]
            cells = [_cell(r) for r in rows]
            lines.append(f"| {transport.upper()} | {mode} | " + " | ".join(cells) + " |")
    ratio = results["batching_speedup_at_32"]
    lines += [
        "",
        f"Batching speedup at 32 clients: REST {ratio['rest']:.2f}x, gRPC {ratio['grpc']:.2f}x "
        f"(goal >= {BATCHING_GOAL:.0f}x: {'met' if min(ratio.values()) >= BATCHING_GOAL else 'MISSED'}).",
        "",
        "![serving throughput and p99](serving.png)",
    ]
    return "\n".join(lines) + "\n"


def run(artifacts: Path, out_dir: Path) -> str:
    """Run the serving benchmark over exported `artifacts`; write JSON + plot to `out_dir`."""
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="tfkit-bench-") as tmp:
        work = Path(tmp)
        with serving(artifacts) as server:
            results["sequential"] = _sequential(artifacts, server, work)
            results["throughput"]["unbatched"] = _sweep(artifacts, server, work)
        batching = ("--enable_batching=true", "--batching_parameters_file=serving/batching.config")
        with serving(artifacts, *batching, models=("ctr",)) as server:
            results["throughput"]["batched"] = _sweep(artifacts, server, work)
    index = CONCURRENCY.index(32)
    batched, unbatched = results["throughput"]["batched"], results["throughput"]["unbatched"]
    results["batching_speedup_at_32"] = {
        t: batched[t][index]["rps"] / max(unbatched[t][index]["rps"], 1e-9) for t in ("rest", "grpc")
    }
    (out_dir / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    _plot(results, out_dir / "serving.png")
    return _markdown(results)
