"""The client benchmark's arithmetic and report (the timing itself runs in `make bench`)."""

from __future__ import annotations

from typing import Any

from bench.clients import PAIRS, markdown, overheads


def results(raw_ms: float, client_extra_ms: float) -> dict[str, Any]:
    def variant(ms: float) -> dict[str, Any]:
        return {"median_ms": ms, "samples_ms": [ms - 1, ms, ms + 1]}

    by_count: dict[str, Any] = {}
    for count in ("1", "1000"):
        variants = {}
        for _, raw, client in PAIRS:
            variants[raw] = variant(raw_ms)
            variants[client] = variant(raw_ms + client_extra_ms)
        variants["rest_preencoded_columnar"] = variant(raw_ms / 2)
        by_count[count] = variants
    return by_count


def test_overhead_is_the_median_paired_difference_and_the_goal_is_checked() -> None:
    rows = overheads(results(20.0, 1.0))
    assert {r["overhead_ms"] for r in rows} == {1.0}
    assert {round(r["overhead_pct"], 6) for r in rows} == {5.0}
    report = markdown(rows, results(20.0, 1.0))
    assert "| gRPC | 1000 | 20.00 | 21.00 | +1.00 | +5.0% |" in report
    assert "**met**" in report
    assert "**NOT met**" in markdown(overheads(results(20.0, 3.0)), results(20.0, 3.0))
