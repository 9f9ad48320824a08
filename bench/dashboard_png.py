"""Render the Grafana dashboard's panels from a real Prometheus into one PNG (what an operator would see).

    python bench/dashboard_png.py --artifacts artifacts --out bench/results/dashboard.png [--seconds 60]

Starts `tfkit serve` (the kit's models, batching and monitoring configs) and Prometheus 2.x on the kit's
scrape config and rules (1 s scrapes). After one warm-up request of each kind it drives three phases of
REST and gRPC load with some client errors (steady, a burst, steady with bad requests), then runs every
panel's query of serving/grafana/dashboards/tfkit-serving.json as a range query and draws it with
matplotlib.
Run by `make bench-dashboard` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import numpy as np
import requests

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.prometheus import LivePrometheus, Panel, dashboard_panels, running_prometheus
from serving.launcher import running_server

SCALE = {"percentunit": (100.0, "%"), "ms": (1.0, "ms"), "reqps": (1.0, "req/s"), "none": (1.0, "")}


def serve_flags(artifacts: Path) -> list[str]:
    return [
        "--model_config_file=serving/models.config",
        "--monitoring_config_file=serving/monitoring.config",
        "--enable_batching=true",
        "--batching_parameters_file=serving/batching.config",
        f"--tfkit_path_map=/models={artifacts.resolve() / 'models'}",
    ]


def rest_worker(url: str, stop: threading.Event, kind: str, pause: float, always_once: bool = False) -> None:
    """Loop one kind of REST request until `stop`: linear/ctr predicts, linear regress, or 404s / 400s
    (client errors); `always_once` sends one even if `stop` is already set."""
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    with requests.Session() as session:
        while always_once or not stop.is_set():
            always_once = False
            if kind == "linear":
                rows = int(rng.integers(1, 5))
                session.post(
                    f"{url}/v1/models/linear:predict", json={"instances": [[1.0]] * rows}, timeout=30
                )
            elif kind == "ctr":
                rows = int(rng.integers(1, 9))
                instances = [
                    {"feature": rng.normal(size=121).tolist(), "user_id": 7, "article_id": 11}
                    for _ in range(rows)
                ]
                session.post(f"{url}/v1/models/ctr:predict", json={"instances": instances}, timeout=30)
            elif kind == "regress":  # the batched examples path (one input: the serialized examples)
                body = {"signature_name": "regression", "examples": [{"x": 1.0}, {"x": 2.0}]}
                session.post(f"{url}/v1/models/linear:regress", json=body, timeout=30)
            elif kind == "errors":
                session.post(
                    f"{url}/v1/models/linear/versions/99:predict", json={"instances": [[1.0]]}, timeout=30
                )
                session.post(f"{url}/v1/models/ctr:predict", json={"instances": [[1.0]] * 2}, timeout=30)
            stop.wait(pause)


def grpc_worker(target: str, stop: threading.Event, pause: float, always_once: bool = False) -> None:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.grpc.codec import tensor_proto_from_numpy

    rng = np.random.default_rng(1)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while always_once or not stop.is_set():
            always_once = False
            rows = int(rng.integers(1, 9))
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "ctr"
            request.inputs["feature"].CopyFrom(
                tensor_proto_from_numpy(rng.normal(size=(rows, 121)).astype(np.float32))
            )
            request.inputs["user_id"].CopyFrom(tensor_proto_from_numpy(np.full(rows, 3, np.int64)))
            request.inputs["article_id"].CopyFrom(tensor_proto_from_numpy(np.full(rows, 5, np.int64)))
            stub.Predict(request, timeout=30)
            stop.wait(pause)


def run_phase(workers: list[Callable[[threading.Event], None]], seconds: float) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=w, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    time.sleep(seconds)  # a benchmark phase of fixed length, not a wait for readiness
    stop.set()
    for thread in threads:
        thread.join(60)


def drive(rest_url: str, grpc_target: str, seconds: float) -> None:
    def rest(kind: str, pause: float) -> Callable[[threading.Event], None]:
        return lambda stop: rest_worker(rest_url, stop, kind, pause)

    def grpc_(pause: float) -> Callable[[threading.Event], None]:
        return lambda stop: grpc_worker(grpc_target, stop, pause)

    steady = [rest("linear", 0.02), rest("ctr", 0.05), rest("regress", 0.1), grpc_(0.02)]
    burst = [*(rest("linear", 0.0) for _ in range(4)), rest("ctr", 0.0), grpc_(0.0), grpc_(0.0)]
    run_phase(steady, seconds / 3)
    run_phase(burst, seconds / 3)
    run_phase([*steady, rest("errors", 0.1)], seconds / 3)


def legend_text(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend: `{{label}}` becomes the label's value, empty when the series lacks it (Prometheus
    drops empty labels, such as the API="" of REST GETs)."""
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(text.split())


def warm_up(rest_url: str, grpc_target: str) -> None:
    """One request of each kind before the measured window: first calls pay one-off costs (lazy
    imports, first TensorFlow runs of new shapes) that would otherwise dominate the first p99 points."""
    once = threading.Event()
    once.set()
    for kind in ("linear", "ctr", "regress", "errors"):
        rest_worker(rest_url, once, kind, 0.0, always_once=True)
    grpc_worker(grpc_target, once, 0.0, always_once=True)


def draw(prometheus: LivePrometheus, panels: list[Panel], start: float, end: float, out: Path) -> None:
    cols = 4
    rows = -(-len(panels) // cols)
    plt.style.use("dark_background")
    fig, axes = plt.subplots(rows, cols, figsize=(18, 3.3 * rows), dpi=72)
    for ax, panel in zip(axes.flat, panels, strict=False):
        factor, suffix = SCALE.get(panel.unit, (1.0, ""))
        ax.set_title(panel.title, fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.2)
        if panel.kind != "timeseries":  # stat / bar gauge: the last value of each series
            last = {
                legend_text(legend, s["metric"])[-34:]: float(s["value"][1]) * factor
                for expr, legend in panel.targets
                for s in prometheus.query(expr, at=end)
            }
            ax.barh(list(last), list(last.values()), color="#73bf69")
            for y, value in enumerate(last.values()):
                ax.text(value, y, f" {value:g}", va="center", fontsize=8)
            continue
        drawn = 0
        for expr, legend in panel.targets:
            for series in prometheus.query_range(expr, start, end, 1.0):
                times = [float(t) - start for t, _ in series["values"]]
                values = [float(v) * factor for _, v in series["values"]]
                ax.plot(times, values, linewidth=1.2, label=legend_text(legend, series["metric"])[:40])
                drawn += 1
        ax.set_xlabel("seconds", fontsize=7)
        ax.set_ylabel(suffix, fontsize=7)
        if drawn and drawn <= 8:
            ax.legend(fontsize=6, loc="upper left", framealpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    stamp = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.suptitle(
        f"tfkit serving dashboard (serving/grafana), rendered from a live Prometheus, {stamp}: "
        f"{end - start:.0f} s of load (steady, burst, steady with client errors)",
        fontsize=11,
        x=0.01,
        ha="left",
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/dashboard.png"))
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    with (
        running_server(serve_flags(args.artifacts), wait_models=["linear", "ctr"]) as server,
        running_prometheus(f"127.0.0.1:{server.rest_port}", interval="1s") as prometheus,
    ):
        warm_up(server.rest_url, server.grpc_target)
        prometheus.wait_scraped_after(time.time())
        start = time.time()
        drive(server.rest_url, server.grpc_target, args.seconds)
        end = time.time()
        prometheus.wait_scraped_after(end)
        draw(prometheus, dashboard_panels(rate_interval="5s"), start, end, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
