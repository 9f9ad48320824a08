"""Scale-out benchmarks (`make bench-scale`, a dependency of `make bench`): writes scale.json and scale.md.

1. Data: `tfkit data spark --master local[1]` and `local[2]` vs `tfkit data import` on the same Parquet
   click logs (100k and 1M rows by default): wall seconds and rows/s of each command as a whole process
   (JVM start-up included), that all wrote the same split counts, and Spark's own floor on the largest
   input (session start, Python worker start, one identity pass through Python, one shuffle).
2. Training: `tfkit train ctr` with --strategy one, multi-worker with 1 worker, and multi-worker with 2
   worker processes on localhost: training examples/s and held-out AUC on the same synthetic data.

    python -m bench.scale --out bench/results [--rows 100000 1000000] [--train-rows 24000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FEATURE_LEN = 121
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def write_click_logs(path: Path, rows: int, seed: int = 0, chunk: int = 25_000) -> None:
    """`rows` click-log rows as Parquet (user_id, article_id, clicked, features list<double>), in row
    groups of `chunk` rows (Spark reads a row group per task at most)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        values = pa.array(rng.normal(size=n * FEATURE_LEN))
        features = pa.ListArray.from_arrays(
            pa.array(np.arange(0, (n + 1) * FEATURE_LEN, FEATURE_LEN)), values
        )
        table = pa.table(
            {
                "user_id": pa.array(rng.integers(0, 100_000, size=n)),
                "article_id": pa.array(rng.integers(0, 10_000, size=n)),
                "clicked": pa.array(rng.integers(0, 2, size=n)),
                "features": features,
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env or ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - began


def bench_data(rows: int, workdir: Path, max_rows: int, shards: int = 4) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / f"clicks-{rows}.parquet"
    write_click_logs(logs, rows)
    tfkit = [sys.executable, "-m", "tfkit", "data"]
    common = ["--shards", str(shards), "--seed", "1"]
    result: dict[str, Any] = {"rows": rows, "input_bytes": logs.stat().st_size}
    runs = {"import": [*tfkit, "import", str(logs), "--out", str(workdir / "import"), *common]}
    for cores in (1, 2):
        out = workdir / f"spark{cores}"
        runs[f"spark_local{cores}"] = [
            *tfkit,
            "spark",
            str(logs),
            "--out",
            str(out),
            "--master",
            f"local[{cores}]",
        ]
        runs[f"spark_local{cores}"] += common
    for name, argv in runs.items():
        wall = _timed(argv)
        meta = json.loads((Path(argv[argv.index("--out") + 1]) / "meta.json").read_text())
        result[name] = {
            "wall_seconds": round(wall, 2),
            "rows_per_second": round(rows / wall),
            "n_train": meta["n_train"],
            "n_eval": meta["n_eval"],
        }
    result["same_split"] = all(
        result["import"][k] == result[f"spark_local{c}"][k] for k in ("n_train", "n_eval") for c in (1, 2)
    )
    if rows == max_rows:
        result["spark_floor"] = _spark_floor(logs)
    logs.unlink()
    return result


_FLOOR = """
import json, sys, time
began = time.perf_counter()
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
floor = {"session_start": time.perf_counter() - began}
frame = spark.read.parquet(sys.argv[1])
def same(batches):
    yield from batches
for name, job in (
    ("first_python_pass", lambda: frame.limit(1000).mapInArrow(same, frame.schema).count()),
    ("python_pass", lambda: frame.mapInArrow(same, frame.schema).count()),
    ("shuffle", lambda: frame.repartition(7, "user_id").selectExpr("sum(size(features))").collect()),
):
    began = time.perf_counter()
    job()
    floor[name] = time.perf_counter() - began
print(json.dumps({k: round(v, 2) for k, v in floor.items()}))
"""


def _spark_floor(logs: Path) -> dict[str, float]:
    """What Spark itself costs on these rows, with no kit code: session start, the first Python task
    (worker start), every row to Python and back through Arrow (an identity mapInArrow), one shuffle."""
    argv = [sys.executable, "-c", _FLOOR, str(logs)]
    env = {**ENV, "PYSPARK_PYTHON": sys.executable}  # the workers' Python: this venv, not PATH's python3
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the Spark floor run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    floor: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return floor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_training(workdir: Path, train_rows: int, epochs: int = 2) -> list[dict[str, Any]]:
    from export.settings import GenerateSettings
    from export.synthetic import generate

    data = workdir / "data"
    generate(GenerateSettings(out_dir=data, n_train=train_rows, n_eval=train_rows // 4, shards=4))
    runs: list[dict[str, Any]] = []
    for label, workers in (("one", 0), ("multi-worker x1", 1), ("multi-worker x2", 2)):
        model_dir = workdir / label.replace(" ", "-")
        argv = [sys.executable, "-m", "tfkit", "train", "ctr", "--data-dir", str(data)]
        argv += ["--model-dir", str(model_dir), "--epochs", str(epochs)]
        began = time.perf_counter()
        if workers == 0:
            _timed(argv)
        else:
            hosts = [f"localhost:{_free_port()}" for _ in range(workers)]
            procs = []
            for index in range(workers):
                config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
                env = {**ENV, "TF_CONFIG": json.dumps(config)}
                procs.append(
                    subprocess.Popen(
                        [*argv, "--strategy", "multi-worker"],
                        cwd=REPO,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            if any(p.wait() != 0 for p in procs):
                raise RuntimeError(f"{label}: a worker failed")
        wall = time.perf_counter() - began
        metrics = json.loads((model_dir / "metrics.json").read_text())
        examples = train_rows * epochs
        runs.append(
            {
                "run": label,
                "workers": max(workers, 1),
                "auc": round(metrics["auc"], 4),
                "bayes_auc": round(metrics["bayes_auc"], 4),
                "train_seconds": metrics["train_seconds"],
                "examples_per_second": round(examples / metrics["train_seconds"]),
                "process_wall_seconds": round(wall, 2),
            }
        )
    return runs


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Scale out (Spark data job, multi-worker training)",
        "",
        f"{results['cpus']} CPUs shared by every process. Whole commands, start-up included "
        "(Spark: JVM and Python workers; training workers: TensorFlow + cluster set-up). "
        "Load average at start: " + str(results.get("load_average_at_start", "not recorded")) + ".",
        "",
        "| rows | command | wall s | rows/s | train / eval rows |",
        "|---:|---|---:|---:|---|",
    ]
    commands = {
        "import": "tfkit data import",
        "spark_local1": "tfkit data spark --master local[1]",
        "spark_local2": "tfkit data spark --master local[2]",
    }
    for item in results["data"]:
        for name, command in commands.items():
            if name not in item:
                continue
            r = item[name]
            lines.append(
                f"| {item['rows']:,} | {command} | {r['wall_seconds']} | {r['rows_per_second']:,} | "
                f"{r['n_train']:,} / {r['n_eval']:,} |"
            )
    floors = [(item["rows"], item["spark_floor"]) for item in results["data"] if "spark_floor" in item]
    for rows, floor in floors:
        lines += [
            "",
            f"Spark's own floor on the {rows:,} rows (local[2], no kit code): session start "
            f"{floor['session_start']} s; first Python task (worker start) {floor['first_python_pass']} s; "
            f"every row to Python and back (identity mapInArrow) {floor['python_pass']} s; one shuffle of "
            f"the rows {floor['shuffle']} s.",
        ]
    lines += ["", "| training | workers | examples/s | train s | AUC (bayes) |", "|---|---:|---:|---:|---|"]
    for r in results["training"]:
        lines.append(
            f"| {r['run']} | {r['workers']} | {r['examples_per_second']:,} | {r['train_seconds']} | "
            f"{r['auc']} ({r['bayes_auc']}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--train-rows", type=int, default=24_000)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],  # other work on the machine
        "data": [],
    }
    with tempfile.TemporaryDirectory(prefix="tfkit-bench-scale-") as tmp:
        for rows in args.rows:
            print(f"[bench-scale] data {rows:,} rows ...", flush=True)
            results["data"].append(bench_data(rows, Path(tmp) / f"rows-{rows}", max(args.rows)))
        print("[bench-scale] training one / multi-worker x1 / x2 ...", flush=True)
        results["training"] = bench_training(Path(tmp) / "train", args.train_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "scale.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
