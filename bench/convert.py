"""Benchmark of the converted bundles: sizes per variant and single-row latency (SavedModel vs LiteRT vs
TF.js in Node) for both models. `run(artifacts, out_dir)` writes out_dir/convert.json, returns Markdown."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

WARMUP = 20
ITERATIONS = 300


def _percentiles(ms: list[float]) -> dict[str, float]:
    arr = np.asarray(ms)
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)), "n": len(ms)}


def _time_calls(call: Callable[[], object]) -> dict[str, float]:
    ms = []
    for i in range(WARMUP + ITERATIONS):
        start = time.perf_counter()
        call()
        if i >= WARMUP:
            ms.append((time.perf_counter() - start) * 1e3)
    return _percentiles(ms)


def _model_bench(artifacts: Path, model: str, entry: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from export.convert.node import GraphModelJob, run_graph_models
    from export.convert.rows import Rows
    from export.convert.signature import load_signature
    from export.convert.tfjs import io_names
    from export.samples import sample_inputs

    row = sample_inputs(model, artifacts, 1, 0)
    loaded = load_signature(artifacts / entry["path"], "serving_default")
    tensors = {k: tf.constant(v) for k, v in row.items()}
    latency: dict[str, dict[str, float]] = {"saved_model": _time_calls(lambda: loaded.function(**tensors))}
    sizes: dict[str, int] = {}
    jobs = []
    for art in entry.get("artifacts", []):
        if art["kind"] not in ("tflite", "tfjs"):
            continue
        path = artifacts / art["path"]
        sizes[f"{art['kind']}/{art['variant']}"] = int(art["bytes"])
        if art["kind"] == "tflite":
            runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
            latency[f"litert/{art['variant']}"] = _time_calls(partial(runner, **row))
        elif art["kind"] == "tfjs":
            feeds, fetches = io_names(path, loaded.spec)
            jobs.append(GraphModelJob(art["variant"], path, feeds, fetches))
    if jobs:
        bench = {"warmup": WARMUP, "iterations": ITERATIONS, "row": 0}
        results = run_graph_models(jobs, Rows(inputs=row, labels=None, source="1 row"), bench=bench)
        for variant, result in results.items():
            latency[f"tfjs-node/{variant}"] = _percentiles(result.bench_ms)
    return {"sizes": sizes, "latency": latency}


def _markdown(results: dict[str, Any]) -> str:
    lines = ["## Converted bundles (TFLite, TF.js)", ""]
    for model, res in results["models"].items():
        sizes = res["sizes"]
        lines += [f"**{model}** sizes (bytes):", "", "| artifact | bytes | vs float32 |", "|---|---:|---:|"]
        for key, size in sizes.items():
            base = sizes.get(f"{key.split('/')[0]}/float32")
            ratio = f"{size / base:.0%}" if base else "-"
            lines.append(f"| {key} | {size:,} | {ratio} |")
        lines += [
            "",
            f"**{model}** single-row latency:",
            "",
            "| runtime | p50 ms | p99 ms |",
            "|---|---:|---:|",
        ]
        for key, lat in res["latency"].items():
            lines.append(f"| {key} | {lat['p50_ms']:.3f} | {lat['p99_ms']:.3f} |")
        lines.append("")
    if "int8_vs_float32_ctr" in results:
        lines.append(f"int8 CTR .tflite is {results['int8_vs_float32_ctr']:.0%} of float32 (target <= 30%).")
    lines.append(
        f"{ITERATIONS} single-row calls after {WARMUP} warm-up calls per runtime; TF.js runs on the "
        "pure-JS cpu backend in one Node process."
    )
    return "\n".join(lines) + "\n"


def run(artifacts: Path, out_dir: Path) -> str:
    """Measure every converted artifact listed in the manifest; write convert.json; return Markdown."""
    from export.manifest import load_manifest

    manifest = load_manifest(artifacts)
    results: dict[str, Any] = {"models": {}}
    for model, entry in sorted(manifest.get("models", {}).items()):
        results["models"][model] = _model_bench(artifacts, model, entry)
    ctr = results["models"].get("ctr", {}).get("sizes", {})
    if "tflite/int8" in ctr and "tflite/float32" in ctr:
        results["int8_vs_float32_ctr"] = ctr["tflite/int8"] / ctr["tflite/float32"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "convert.json").write_text(json.dumps(results, indent=2) + "\n")
    return _markdown(results)
