"""bench/serving_report.py and bench/load.py parsers: the tail verdicts and the report, on made-up runs."""

from __future__ import annotations

from typing import Any

from bench.load import LoadResult, repeated
from bench.serving_report import _cell, _floor_load, _load_tools, tail


def _run(clients: int, rps: float, p50: float, p99: float, tool: str = "h2load --h1") -> dict[str, Any]:
    return {"tool": tool, "connections": clients, "seconds": 8.0, "requests": int(rps * 8), "failures": 0,
            "rps": rps, "p50_ms": p50, "p99_ms": p99}  # fmt: skip


def _results() -> dict[str, Any]:
    sweep = {
        "rest": [_run(c, 2500, 10, 20) for c in (1, 8, 32)] + [_run(128, 2600, 45, 80)],
        "grpc": [_run(c, 2100, 12, 24) for c in (1, 8, 32)] + [_run(128, 2000, 56, 105)],
    }
    two = {
        "rest": [_run(32, 3800, 8, 14), _run(128, 9200, 13.7, 22.6)],
        "grpc": [_run(32, 4000, 7, 22), _run(128, 3400, 34, 75)],
        "rss_mb": [790.0, 788.0],
    }
    return {
        "cpus": 2,
        "load_average": {"start": [0.1, 0.2, 0.3], "end": [1.0, 1.0, 1.0]},
        "sequential": {},
        "throughput": {"unbatched": sweep, "batched": sweep},
        "workers": {"batched": {"1": {**two, "rss_mb": [790.0]}, "2": two}},
        "batching_speedup_at_32": {"rest": 1.0, "grpc": 1.0},
        "load_tools": {
            "wrk": _run(128, 1900, 49, 944, "wrk"),
            "hey": _run(128, 2040, 62, 93, "hey"),
            "h2load --h1": _run(128, 2600, 45, 80),
        },
        "floor_load": {
            "rest": [_run(32, 37000, 0.8, 1.5), _run(128, 32000, 3.7, 6.4)],
            "grpc": [_run(32, 9900, 3.3, 5.3), _run(128, 9400, 12.4, 21.3)],
        },
    }


def test_tail_judges_each_configuration_and_worker_count_above_one() -> None:
    verdicts = tail(_results())
    assert set(verdicts) == {
        "unbatched/rest", "unbatched/grpc", "batched/rest", "batched/grpc",
        "batched, 2 workers/rest", "batched, 2 workers/grpc",
    }  # fmt: skip
    assert verdicts["batched, 2 workers/rest"]["met"]  # p99 22.6 <= 25, ratio 1.6, throughput rising
    grpc = verdicts["batched, 2 workers/grpc"]
    assert not grpc["met"] and not grpc["throughput_not_falling"]
    assert not verdicts["unbatched/rest"]["met"]  # p99 80 ms at 128 clients
    assert round(verdicts["unbatched/rest"]["at"]["128"]["little_mean_ms"], 1) == 49.2


def test_report_shows_the_load_tools_and_the_floor_under_load() -> None:
    results = _results()
    tools = "\n".join(_load_tools(results))
    assert "| wrk | 1900 | 49.0 | 944.0 | 67.4 |" in tools and "| hey | 2040 |" in tools
    floor = "\n".join(_floor_load(results))
    assert "| GRPC | 9900 / 3.3 / 5.3 | 9400 / 12.4 / 21.3 |" in floor
    assert _load_tools({}) == [] and _floor_load({}) == []  # results of an older run: no section


def test_repeated_interleaves_the_counts_and_reports_the_median_run() -> None:
    calls: list[int] = []
    rates = iter([3000, 2400, 2600, 2500, 2800, 2450])  # 32, 128, 32, 128, 32, 128

    def load(clients: int) -> LoadResult:
        calls.append(clients)
        rps = float(next(rates))
        return LoadResult("h2load", clients, 8.0, int(rps * 8), 0, rps, clients / rps * 1000, 2 * clients)

    points = repeated(load, (32, 128), 3)
    assert calls == [32, 128, 32, 128, 32, 128]
    assert [p["rps"] for p in points] == [2800, 2450]  # the median run of each count, not a mean
    assert points[1]["rps_runs"] == [2400, 2500, 2450]
    assert _cell(points[1]) == "2450 (2400-2500) / 52.2 / 256.0"
    assert _cell(_run(8, 2000, 3.0, 6.0)) == "2000 / 3.0 / 6.0"  # a single run: no range


def test_a_fall_must_leave_the_low_counts_own_range() -> None:
    def judged(low_runs: list[float], high: float) -> bool:
        rows = [
            {**_run(32, sorted(low_runs)[1], 9, 17), "rps_runs": low_runs},
            {**_run(128, high, 38, 60), "rps_runs": [high]},
        ]
        verdict = tail({"throughput": {"batched": {"grpc": rows}}})["batched/grpc"]
        return bool(verdict["throughput_not_falling"])

    assert judged([3387, 2985, 3437], 3163)  # 7% below the median, inside the 32-client range: noise
    assert not judged([3387, 3300, 3437], 3163)  # below every 32-client run and 5% below: a fall
    assert judged([3387, 2000, 3437], 3250)  # within 5%
