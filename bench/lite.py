"""LiteRT fast path (`make bench`, area lite): each model served from its SavedModel and from the version's
model.tflite (`--prefer_tflite_model=true`), same server, same requests, same run.

Per mode and model (1 row per request, batching off): the model call in-process (TensorFlow's SavedModel
signature vs LiteRT's signature runner on the same model.tflite), sequential per-request latency over
REST (wrk -c1) and gRPC (h2load -c1), and REST throughput at 32 clients (wrk -c32). Writes
`<out>/lite.json`; `run` returns the Markdown section. `python -m bench.lite` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.load import one_row, run_h2load, run_wrk, serving

MODES = {"savedmodel": (), "tflite": ("--prefer_tflite_model=true",)}
MODELS = ("linear", "ctr")
CLIENTS = 32
SEQUENTIAL_SECONDS = 4.0
LOAD_SECONDS = 8.0
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def rest_body(inputs: dict[str, np.ndarray]) -> bytes:
    """`{"inputs": {alias: value}}` (columnar: the same JSON for one or several inputs)."""
    return json.dumps({"inputs": {k: v.tolist() for k, v in inputs.items()}}).encode()


def grpc_message(model: str, inputs: dict[str, np.ndarray]) -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return bytes(request.SerializeToString())


def _p50_us(call: Callable[[], object], seconds: float = 2.0) -> float:
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 200:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples[len(samples) // 10 :])


def model_call_us(artifacts: Path, model: str, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """p50 microseconds of one 1-row call: TensorFlow SavedModel signature vs LiteRT on model.tflite."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    version = artifacts / json.loads((artifacts / "manifest.json").read_text())["models"][model]["path"]
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    runner = Interpreter(model_path=str(version / "model.tflite")).get_signature_runner("serving_default")
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    return {
        "savedmodel": _p50_us(lambda: {k: v.numpy() for k, v in fn(**tensors).items()}),
        "tflite": _p50_us(lambda: runner(**inputs)),
    }


def measure(artifacts: Path, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"cpus": os.cpu_count(), "clients": CLIENTS, "models": {}}
    rows = {m: one_row(m, artifacts) for m in MODELS}
    for model in MODELS:
        results["models"][model] = {"model_call_us": model_call_us(artifacts, model, rows[model])}
    for mode, flags in MODES.items():
        with serving(artifacts, *flags) as server:
            for model in MODELS:
                url = f"http://127.0.0.1:{server.rest_port}/v1/models/{model}:predict"
                body = rest_body(rows[model])
                message = grpc_message(model, rows[model])
                target = f"127.0.0.1:{server.grpc_port}"
                results["models"][model][mode] = {
                    "rest_1": run_wrk(url, body, 1, SEQUENTIAL_SECONDS, work).as_dict(),
                    "grpc_1": run_h2load(
                        target, PREDICT_METHOD, message, 1, SEQUENTIAL_SECONDS, work
                    ).as_dict(),
                    f"rest_{CLIENTS}": run_wrk(url, body, CLIENTS, LOAD_SECONDS, work).as_dict(),
                }
    return results


def markdown(results: dict[str, Any]) -> str:
    clients = results["clients"]
    lines = [
        "## LiteRT fast path (`--prefer_tflite_model=true`)\n",
        "Each version's `model.tflite` (float32, parity-gated, SignatureDefs in its metadata) served by "
        f"the same `tfkit serve` as the SavedModel; 1 row per request, batching off, {results['cpus']} "
        "shared CPUs. Sequential latency: wrk -c1 (REST), h2load -c1 (gRPC); throughput: wrk, "
        f"{clients} connections. Model call: in-process, TensorFlow signature vs LiteRT.\n",
        f"| model | mode | model call p50 | REST p50 | gRPC p50 | req/s @{clients} | p50 / p99 | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, data in results["models"].items():
        for mode in MODES:
            got = data[mode]
            load, rest, grpc = got[f"rest_{clients}"], got["rest_1"], got["grpc_1"]
            failures = load["failures"] + rest["failures"] + grpc["failures"]
            lines.append(
                f"| {model} | {mode} | {data['model_call_us'][mode]:.0f} us | {rest['p50_ms']:.2f} ms "
                f"| {grpc['p50_ms']:.2f} ms | {load['rps']:.0f} | {load['p50_ms']:.1f} / "
                f"{load['p99_ms']:.1f} ms | {failures} |"
            )
    lines.append("")
    for model, data in results["models"].items():
        ratio = data["tflite"][f"rest_{clients}"]["rps"] / data["savedmodel"][f"rest_{clients}"]["rps"]
        lines.append(f"- {model}: TFLite / SavedModel REST throughput at {clients} clients = {ratio:.2f}x")
    return "\n".join(lines) + "\n"


def run(artifacts: Path, out_dir: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-lite-") as work:
        results = measure(artifacts.resolve(), Path(work))
    results["generated"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lite.json").write_text(json.dumps(results, indent=2) + "\n")
    return markdown(results)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lite", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    text = run(args.artifacts, args.out)
    (args.out / "lite.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
