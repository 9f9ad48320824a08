"""Soak: `tfkit serve` under mixed REST + gRPC traffic for SOAK_SECONDS (default 600) while versions and
configs change; writes bench/results/soak.json and soak.png (`make soak`).

1. Serve the half_plus_two test model (tests/support/half_plus_two.py, version n answers 0.5x + n) with
   batching on, polling its base path every second.
2. Measure the clients' maximum throughput for --measure-seconds (closed loop, every worker flat out).
3. Run at --load-fraction (0.7) of it, paced, half the workers REST and half gRPC, retries off. Every
   --version-every seconds a new version is published (atomically, as `tfkit export`); every
   --reload-every seconds HandleReloadConfigRequest adds or removes a second model.
4. Every answer must come from a published version (its offset); anything else counts as an error.
   Per window: requests, errors, p50/p99 latency; every few seconds the server's RSS and open fds.

RSS growth is measured from the end of warm-up (--warmup-seconds) to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clients import NO_RETRY, GrpcClient, RestClient
from serving.launcher import LiveServer, running_server
from tests.chaos.traffic import X, offset_of

MODEL = "hpt"
SPARE = "hpt_spare"


@dataclass
class Record:
    """Everything the workers observed, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[tuple[float, float, str]] = field(default_factory=list)  # (t, latency ms, transport)
    errors: list[tuple[float, str]] = field(default_factory=list)
    valid_offsets: set[float] = field(default_factory=set)


def _client(server: LiveServer, transport: str) -> RestClient | GrpcClient:
    if transport == "rest":
        return RestClient(server.rest_url, timeout=30, retry=NO_RETRY)
    return GrpcClient(server.grpc_target, timeout=30, retry=NO_RETRY)


def worker(
    server: LiveServer, transport: str, rate: float | None, until: float, t0: float, record: Record
) -> None:
    """Predict in a loop until `until`; paced at `rate` req/s (None: flat out)."""
    client = _client(server, transport)
    x = {"x": np.array([X], np.float32)}
    next_at = time.monotonic()
    try:
        while (now := time.monotonic()) < until:
            if rate:
                next_at = max(next_at + 1.0 / rate, now - 1.0)  # at most 1 s of debt is caught up
                if next_at > now:
                    time.sleep(next_at - now)
            start = time.monotonic()
            try:
                y = float(np.asarray(client.predict(MODEL, x)["y"]).reshape(-1)[0])
            except Exception as error:
                with record.lock:
                    record.errors.append((start - t0, f"{transport}: {type(error).__name__}: {error}"))
                continue
            end = time.monotonic()
            with record.lock:
                if offset_of(y) not in record.valid_offsets:
                    record.errors.append((start - t0, f"{transport}: answer {y} from no published version"))
                else:
                    record.samples.append((start - t0, (end - start) * 1e3, transport))
    finally:
        client.close()


def run_workers(server: LiveServer, n: int, rate: float | None, seconds: float, record: Record) -> float:
    """n workers (alternating REST/gRPC) for `seconds`; returns the start time they measure from."""
    t0 = time.monotonic()
    per_worker = None if rate is None else rate / n
    threads = [
        threading.Thread(
            target=worker,
            args=(server, "rest" if i % 2 == 0 else "grpc", per_worker, t0 + seconds, t0, record),
            daemon=True,
        )
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return t0


def proc_sample(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open file descriptors) of one process, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def publish(base: Path, version: int, record: Record) -> None:
    from tests.support.half_plus_two import write_half_plus_two

    with record.lock:
        record.valid_offsets.add(float(version))  # valid from the moment it may be loaded
    write_half_plus_two(base / MODEL, version, offset=float(version))


def reload_config(server: LiveServer, base: Path, with_spare: bool) -> int:
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    for name in (MODEL, SPARE) if with_spare else (MODEL,):
        entry = request.config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, str(base / name), "tensorflow"
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        return int(stub.HandleReloadConfigRequest(request, timeout=120).status.error_code)


def windows(record: Record, seconds: float, width: float) -> list[dict[str, Any]]:
    out = []
    times = np.array([s[0] for s in record.samples])
    lat = np.array([s[1] for s in record.samples])
    for start in np.arange(0.0, seconds, width):
        mask = (times >= start) & (times < start + width)
        errs = sum(1 for t, _ in record.errors if start <= t < start + width)
        chunk = lat[mask]
        out.append(
            {
                "t": float(start),
                "requests": int(mask.sum()) + errs,
                "errors": errs,
                "rps": round(float(mask.sum() + errs) / width, 1),
                "p50_ms": round(float(np.percentile(chunk, 50)), 2) if chunk.size else None,
                "p99_ms": round(float(np.percentile(chunk, 99)), 2) if chunk.size else None,
            }
        )
    return out


def soak(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    record = Record()
    publish(base, 1, record)
    from tests.support.half_plus_two import write_half_plus_two

    write_half_plus_two(base / SPARE, 1, offset=1.0)
    config = base / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base / MODEL}" '
        'model_platform: "tensorflow" } }\n'
    )
    flags = [
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        "--enable_batching=true",
        "--batching_parameters_file=serving/batching.config",
        "--monitoring_config_file=serving/monitoring.config",
    ]
    with running_server(flags, wait_models=[MODEL], timeout=300) as server:
        measured = Record(valid_offsets={1.0})
        run_workers(server, args.workers, None, args.measure_seconds, measured)
        max_rps = (len(measured.samples) + len(measured.errors)) / args.measure_seconds
        target = args.load_fraction * max_rps
        print(f"soak: max {max_rps:.0f} req/s measured; running at {target:.0f} req/s for {args.seconds}s")
        resources: list[dict[str, float]] = []
        events: list[dict[str, Any]] = []
        done = threading.Event()

        def operate(t0: float) -> None:
            version, spare = 1, False
            next_version, next_reload = args.version_every, args.reload_every
            next_sample = 0.0
            while not done.is_set():
                now = time.monotonic() - t0
                if now >= next_sample:
                    rss, fds = proc_sample(server.process.pid)
                    resources.append({"t": round(now, 1), "rss_mib": round(rss, 1), "fds": fds})
                    next_sample += args.sample_every
                if now >= next_version:
                    version += 1
                    publish(base, version, record)
                    events.append({"t": round(now, 1), "event": f"version {version}"})
                    next_version += args.version_every
                if now >= next_reload:
                    spare = not spare
                    code = reload_config(server, base, spare)
                    events.append({"t": round(now, 1), "event": f"reload spare={spare} code={code}"})
                    if code != 0:
                        with record.lock:
                            record.errors.append((now, f"reload failed with code {code}"))
                    next_reload += args.reload_every
                done.wait(0.2)

        t0 = time.monotonic()
        operator = threading.Thread(target=operate, args=(t0,), daemon=True)
        operator.start()
        run_workers(server, args.workers, target, args.seconds, record)
        done.set()
        operator.join()
        log = server.log()
    return summarize(args, record, max_rps, target, resources, events, log)


def summarize(
    args: argparse.Namespace,
    record: Record,
    max_rps: float,
    target: float,
    resources: list[dict[str, float]],
    events: list[dict[str, Any]],
    log: str,
) -> dict[str, Any]:
    latencies = np.array([s[1] for s in record.samples]) if record.samples else np.zeros(1)
    after = [r["rss_mib"] for r in resources if r["t"] >= args.warmup_seconds] or [0.0]
    total = len(record.samples) + len(record.errors)
    return {
        "seconds": args.seconds,
        "workers": args.workers,
        "max_rps_measured": round(max_rps, 1),
        "target_rps": round(target, 1),
        "achieved_rps": round(total / args.seconds, 1),
        "requests": total,
        "requests_rest": sum(1 for s in record.samples if s[2] == "rest"),
        "requests_grpc": sum(1 for s in record.samples if s[2] == "grpc"),
        "errors": len(record.errors),
        "error_samples": [e for _, e in record.errors[:20]],
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "rss_after_warmup_mib": after[0],
        "rss_end_mib": after[-1],
        "rss_growth_after_warmup_pct": round(100 * (after[-1] - after[0]) / after[0], 1)
        if after[0]
        else None,
        "rss_max_mib": max(after),
        "fds_start": resources[0]["fds"] if resources else None,
        "fds_end": resources[-1]["fds"] if resources else None,
        "fds_max": max((r["fds"] for r in resources), default=None),
        "versions_published": sum(1 for e in events if e["event"].startswith("version")),
        "config_reloads": sum(1 for e in events if e["event"].startswith("reload")),
        "server_tracebacks": log.count("Traceback"),
        "windows": windows(record, args.seconds, args.window),
        "resources": resources,
        "events": events,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    win = result["windows"]
    ax1.plot([w["t"] for w in win], [w["rps"] for w in win], label="req/s")
    ax1.set_ylabel("req/s")
    ax1b = ax1.twinx()
    ax1b.plot([w["t"] for w in win], [w["p99_ms"] for w in win], color="tab:red", label="p99 ms")
    ax1b.set_ylabel("p99 ms", color="tab:red")
    res = result["resources"]
    ax2.plot([r["t"] for r in res], [r["rss_mib"] for r in res])
    ax2.set_ylabel("server RSS MiB")
    ax3.plot([r["t"] for r in res], [r["fds"] for r in res])
    ax3.set_ylabel("open fds")
    ax3.set_xlabel("seconds")
    for event in result["events"]:
        color = "tab:green" if event["event"].startswith("version") else "tab:purple"
        for ax in (ax1, ax2, ax3):
            ax.axvline(event["t"], color=color, alpha=0.3, linewidth=1)
    ax1.set_title(
        f"soak {result['seconds']}s at {result['achieved_rps']} req/s (REST+gRPC): "
        f"{result['requests']} requests, {result['errors']} errors; green = new version, purple = reload",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    p.add_argument("--measure-seconds", type=float, default=10.0)
    p.add_argument("--load-fraction", type=float, default=0.7)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--version-every", type=float, default=60.0)
    p.add_argument("--reload-every", type=float, default=90.0)
    p.add_argument("--warmup-seconds", type=float, default=60.0)
    p.add_argument("--sample-every", type=float, default=5.0)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tfkit-soak-") as tmp:
        result = soak(args, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out / "soak.png")
    keys = ("requests", "errors", "achieved_rps", "p99_ms", "rss_growth_after_warmup_pct", "fds_max")
    print("soak: " + ", ".join(f"{k}={result[k]}" for k in keys))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
