"""The serving benchmark's goals, verdicts, plot and Markdown section (bench/serving.py measures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Issue 12 goals: overhead over the in-process call (p50 ms, one connection); tail under load.
REST_GOAL_MS, GRPC_GOAL_MS, BATCHING_GOAL = 0.30, 0.55, 2.0
P99_GOAL_MS, TAIL_RATIO_GOAL, TAIL_CLIENTS = 25.0, 5.0, (32, 128)


def _judged(rows: list[dict[str, Any]], batched: bool) -> dict[str, Any]:
    """Goal 2 on one configuration's runs at TAIL_CLIENTS."""
    at = {r["connections"]: r for r in rows}
    cells = {
        str(c): {"p50_ms": at[c]["p50_ms"], "p99_ms": at[c]["p99_ms"],
                 "ratio": at[c]["p99_ms"] / max(at[c]["p50_ms"], 1e-9), "rps": at[c]["rps"],
                 "little_mean_ms": c / max(at[c]["rps"], 1e-9) * 1000}
        for c in TAIL_CLIENTS
    }  # fmt: skip
    ok = all(v["p99_ms"] <= P99_GOAL_MS for v in cells.values())
    if batched:
        ok = ok and all(v["ratio"] <= TAIL_RATIO_GOAL for v in cells.values())
    low, high = at[TAIL_CLIENTS[0]], at[TAIL_CLIENTS[1]]
    # A fall is a drop of more than 5% that also leaves the low count's own run-to-run range.
    floor = min(0.95 * low["rps"], *low.get("rps_runs", [low["rps"]]))
    not_falling = high["rps"] >= floor
    return {"at": cells, "met": ok and not_falling, "throughput_not_falling": not_falling}


def tail(results: dict[str, Any]) -> dict[str, Any]:
    """Goal 2 per mode/transport at 32 and 128 clients, for one process and for each --tfkit_workers
    count above 1: p99, p99/p50, throughput not falling, and Little's law floor (clients / throughput =
    the mean latency any server at that throughput has)."""
    verdicts: dict[str, Any] = {}
    for mode, by_transport in results["throughput"].items():
        for transport, rows in by_transport.items():
            verdicts[f"{mode}/{transport}"] = _judged(rows, mode == "batched")
    for mode, by_count in results.get("workers", {}).items():
        for count, runs in by_count.items():
            if int(count) > 1:
                for transport in ("rest", "grpc"):
                    key = f"{mode}, {count} workers/{transport}"
                    verdicts[key] = _judged(runs[transport], mode == "batched")
    return verdicts


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p50, ax_p99) = plt.subplots(1, 3, figsize=(15, 4))
    ticks: list[int] = []
    for mode in ("unbatched", "batched"):
        for transport, style in (("rest", "-o"), ("grpc", "--s")):
            rows = results["throughput"][mode][transport]
            ticks = [r["connections"] for r in rows]
            label = f"{transport.upper()} {mode}"
            ax_rps.plot(ticks, [r["rps"] for r in rows], style, label=label)
            ax_p50.plot(ticks, [r["p50_ms"] for r in rows], style, label=label)
            ax_p99.plot(ticks, [r["p99_ms"] for r in rows], style, label=label)
    ax_p99.axhline(P99_GOAL_MS, color="grey", lw=0.8, ls=":")
    titles = ("ctr throughput (req/s, 1 row each)", "ctr p50 latency (ms)", "ctr p99 latency (ms)")
    for ax, title in zip((ax_rps, ax_p50, ax_p99), titles, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(c) for c in ticks])
        ax.set_xlabel("concurrent clients")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cell(row: dict[str, Any]) -> str:
    failed = f" ({row['failures']} failed)" if row["failures"] else ""
    runs = row.get("rps_runs", [])
    spread = f" ({min(runs):.0f}-{max(runs):.0f})" if len(runs) > 1 else ""
    return f"{row['rps']:.0f}{spread} / {row['p50_ms']:.1f} / {row['p99_ms']:.1f}{failed}"


def _pair(d: dict[str, Any]) -> str:
    return f"{d['p50_ms']:.3f} / {d['p99_ms']:.3f}"


def _verdict(value: float, goal: float) -> str:
    return f"{value:+.3f} {'met' if value <= goal else 'MISSED'}"


def _sequential(results: dict[str, Any]) -> list[str]:
    lines = [
        "### Sequential latency, 1 row (p50 / p99 ms)",
        "",
        "In-process = the same `serving_default` signature called through TensorFlow's SavedModel API",
        "(the overhead goals' baseline); the kit's servable runner (what the server calls) is shown too.",
        "Floor = the same server stack (uvicorn+httptools+uvloop / grpc.aio) answering with no model and",
        "no kit code (bench/floor.py), measured back to back with the same load tool and payload.",
        "",
        "| model | in-process (TF API) | in-process (kit runner) | REST | REST floor | gRPC | gRPC floor "
        f"| REST overhead (goal <= {REST_GOAL_MS}) | gRPC overhead (goal <= {GRPC_GOAL_MS}) "
        "| REST kit code | gRPC kit code |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, r in results["sequential"].items():
        lines.append(
            f"| {model} | {_pair(r['in_process']['signature'])} | {_pair(r['in_process']['runner'])} "
            f"| {_pair(r['rest'])} | {_pair(r['floor']['rest'])} | {_pair(r['grpc'])} "
            f"| {_pair(r['floor']['grpc'])} | {_verdict(r['rest_overhead_ms'], REST_GOAL_MS)} "
            f"| {_verdict(r['grpc_overhead_ms'], GRPC_GOAL_MS)} "
            f"| {r['rest_above_floor_ms']:+.3f} | {r['grpc_above_floor_ms']:+.3f} |"
        )
    lines += ["", "Kit code = p50(kit) - p50(floor) - p50(kit runner in-process): what the adapters, the",
              "DataPlane and the thread hop add above the bare stack and the model call.", ""]  # fmt: skip
    return lines


def _throughput(results: dict[str, Any]) -> list[str]:
    rows0 = results["throughput"]["unbatched"]["rest"]
    clients = [r["connections"] for r in rows0]
    lines = ["### ctr throughput (req/s) / p50 / p99 (ms) by concurrent clients", "",
             f"At {' and '.join(map(str, TAIL_CLIENTS))} clients: the run with the median throughput of "
             "interleaved repeats (32, 128, 32, 128, ...), with the range of req/s over the repeats; this",
             "applies to every table below that shows a range.", "",
             "| transport | batching | " + " | ".join(f"{c} clients" for c in clients) + " |",
             "|---|---|" + "---|" * len(clients)]  # fmt: skip
    for transport in ("rest", "grpc"):
        for mode in ("unbatched", "batched"):
            cells = [_cell(r) for r in results["throughput"][mode][transport]]
            lines.append(f"| {transport.upper()} | {mode} | " + " | ".join(cells) + " |")
    ratio = results["batching_speedup_at_32"]
    lines += [
        "",
        f"Batching speedup at 32 clients: REST {ratio['rest']:.2f}x, gRPC {ratio['grpc']:.2f}x "
        f"(goal >= {BATCHING_GOAL:.0f}x: {'met' if min(ratio.values()) >= BATCHING_GOAL else 'MISSED'}).",
        "",
        f"Tail goal (p99 <= {P99_GOAL_MS:.0f} ms at {' and '.join(map(str, TAIL_CLIENTS))} clients; batched "
        f"also p99/p50 <= {TAIL_RATIO_GOAL:.0f}; throughput not falling from {TAIL_CLIENTS[0]} to "
        f"{TAIL_CLIENTS[1]}: a drop of more than 5% and below every {TAIL_CLIENTS[0]}-client run). Little = "
        "clients / throughput, the mean latency of a closed loop at that rate:",
        "",
        "| mode / transport | "
        + " | ".join(f"{c}: p99, p99/p50, Little" for c in TAIL_CLIENTS)
        + " | verdict |",
        "|---|" + "---|" * len(TAIL_CLIENTS) + "---|",
    ]
    for key, v in results["tail"].items():
        cells = [
            f"{c['p99_ms']:.1f} ms, {c['ratio']:.1f}, {c['little_mean_ms']:.1f} ms" for c in v["at"].values()
        ]
        note = "" if v["throughput_not_falling"] else " (throughput falls)"
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {'met' if v['met'] else 'MISSED'}{note} |")
    return [*lines, "", "![serving throughput and latency](serving.png)", ""]


def _load_tools(results: dict[str, Any]) -> list[str]:
    if "load_tools" not in results:
        return []
    lines = [
        "### Load-tool cross-check: the same REST load (ctr, unbatched, 128 clients) from three tools",
        "",
        "| tool | req/s | p50 ms | p99 ms | Little (clients / req/s) ms |",
        "|---|---|---|---|---|",
    ]
    for tool, r in results["load_tools"].items():
        little = r["connections"] / max(r["rps"], 1e-9) * 1000
        lines.append(f"| {tool} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {little:.1f} |")
    lines += [
        "",
        "A closed loop's mean latency is at most clients / throughput; a tool whose tail sits far above that",
        "while the others agree is measuring itself. The sweeps above use h2load.",
        "",
    ]
    return lines


def _floor_load(results: dict[str, Any]) -> list[str]:
    if "floor_load" not in results:
        return []
    lines = ["### Floor under load: the bare stacks (no model, no kit code; bench/floor.py), one process", "",
             "| transport | " + " | ".join(f"{c} clients: req/s / p50 / p99 ms" for c in TAIL_CLIENTS) + " |",
             "|---|" + "---|" * len(TAIL_CLIENTS)]  # fmt: skip
    for transport, rows in results["floor_load"].items():
        lines.append(f"| {transport.upper()} | " + " | ".join(_cell(r) for r in rows) + " |")
    return [*lines, ""]


def _workers(results: dict[str, Any]) -> list[str]:
    lines = ["### --tfkit_workers: ctr, 1 row, back to back (req/s / p50 / p99 ms)", "",
             "| batching | workers | REST 32 | REST 128 | gRPC 32 | gRPC 128 | RSS per worker (MiB) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, by_count in results["workers"].items():
        for count, r in by_count.items():
            rss = ", ".join(f"{m:.0f}" for m in r["rss_mb"])
            cells = " | ".join(_cell(row) for row in [*r["rest"], *r["grpc"]])
            lines.append(f"| {mode} | {count} | {cells} | {rss} |")
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    load = results["load_average"]
    lines = [
        "## Serving (tfkit serve: REST + gRPC adapters, batching)",
        "",
        (f"Measured {results['date']}. " if "date" in results else "")
        + f"Machine: {results['cpus']} CPUs, shared with other engineers: load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.1f}' for x in load['start'])} at the start, "
        f"{', '.join(f'{x:.1f}' for x in load['end'])} at the end. Load from h2load (REST over HTTP/1.1, "
        "gRPC; wrk for the sequential REST runs) in separate processes on the same cores.",
        "",
        *_sequential(results),
        *_throughput(results),
        *_load_tools(results),
        *_floor_load(results),
        *_workers(results),
    ]
    return "\n".join(lines) + "\n"
