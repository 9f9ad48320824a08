"""Export benchmarks: `make export` wall time, linear training time, CTR input pipeline examples/s.

`run(artifacts, out_dir)` writes out_dir/export.json and returns a Markdown section.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_STAGE = re.compile(r"^\[(\d+)/(\d+)\] (.+?): .*\((\d+\.\d)s, total (\d+\.\d)s\)$")


def time_pipeline(workdir: Path) -> dict[str, Any]:
    """Run `python -m export.pipeline` into an empty directory; wall time and per-stage seconds."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "export.pipeline", "--artifacts", str(workdir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(
            f"export pipeline failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-2000:]}"
        )
    stages = {m.group(3): float(m.group(4)) for line in done.stdout.splitlines() if (m := _STAGE.match(line))}
    return {"wall_seconds": round(wall, 2), "stages": stages}


def time_linear(model_dir: Path) -> dict[str, Any]:
    """Default linear training from scratch: execution seconds and the one-off tracing seconds."""
    from export.linear import train_linear
    from export.settings import LinearSettings

    metrics = train_linear(LinearSettings(model_dir=model_dir, log_every=0), log=lambda _: None)
    return {k: metrics[k] for k in ("steps", "train_seconds", "trace_seconds", "w", "b")}


def input_throughput(data_dir: Path, batch_size: int, passes: int = 3, skip_bad: bool = False) -> float:
    """Median examples/s of full passes (after one warm-up pass) over the training shards."""
    from export.reader import SkipCounter, ctr_dataset, iterate
    from export.shards import read_meta, split_files

    files = split_files(data_dir, "train")
    length = int(read_meta(data_dir)["feature_len"])
    counter = SkipCounter()
    dataset = ctr_dataset(files, batch_size, length, skip_bad=skip_bad, counter=counter)
    rates = []
    for i in range(passes + 1):
        n, began = 0, time.perf_counter()
        for _, label in iterate(dataset, files):
            n += int(label.shape[0])
        if i:
            rates.append(n / (time.perf_counter() - began))
    return float(statistics.median(rates))


def run(artifacts: Path, out_dir: Path) -> str:
    """Measure, write out_dir/export.json, return the Markdown section."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfkit-bench-export-") as tmp:
        pipeline = time_pipeline(Path(tmp) / "artifacts")
        linear = time_linear(Path(tmp) / "linear")
        data_dir = Path(tmp) / "artifacts" / "data" / "ctr"
        reader = {
            f"batch_{b}{'_skip_bad' if skip else ''}": round(input_throughput(data_dir, b, skip_bad=skip))
            for b, skip in ((256, False), (1024, False), (1024, True))
        }
    results = {
        "cpus": os.cpu_count(),
        "pipeline": pipeline,
        "linear": linear,
        "ctr_input_examples_per_s": reader,
    }
    (out_dir / "export.json").write_text(json.dumps(results, indent=2) + "\n")
    stage_rows = "\n".join(f"| {name} | {sec:.1f} |" for name, sec in pipeline["stages"].items())
    reader_rows = "\n".join(f"| {name} | {rate:,} |" for name, rate in reader.items())
    return f"""## Export

`make export` equivalent (`python -m export.pipeline` into an empty directory, {os.cpu_count()} CPUs):
**{pipeline["wall_seconds"]:.1f} s** wall (goal < 60 s including conversions).

| stage | seconds |
|---|---|
{stage_rows}

Linear regression, {linear["steps"]} compiled GD steps: **{linear["train_seconds"]:.3f} s** of training
(+ {linear["trace_seconds"]:.2f} s tracing the tf.function once); W={linear["w"]:.4f}, b={linear["b"]:.4f}.

CTR input pipeline (interleave over shards, parse, decode_raw float64->float32, batch, prefetch;
median of 3 passes):

| reader | examples/s |
|---|---|
{reader_rows}
"""
