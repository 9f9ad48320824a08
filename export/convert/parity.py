"""Parity of converted artifacts against the SavedModel: errors per artifact, gates, the failure table.

One rule for every model, so `tfkit convert` works on any signature by default: each output's max |Δ|
is divided by that output's scale, max(1, max - min of the SavedModel's output over the parity rows),
and the largest such error is gated. Outputs within a unit range (probabilities, scores) are thus gated
absolutely, as converters.md §2.3 sets the gates; a regression output spanning tens is gated relative
to its range (0.0255 on a range of 30 is 8.5e-4, inside int8's 0.02).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.convert.rows import Rows


@dataclass(frozen=True)
class ParityResult:
    """One artifact's comparison with the SavedModel on the same rows."""

    target: str
    variant: str
    rows: int
    max_abs_error: float | None  # raw max |Δ| over every output; None: not measured (Flex ops)
    gate: float
    error: float | None = None  # the gated value: max over outputs of max |Δ| / scale (None: = max_abs_error)
    scale: float = 1.0  # the scale of the output with the largest gated error
    auc_delta: float | None = None
    auc_gate: float | None = None
    note: str = ""

    @property
    def gated_error(self) -> float:
        if self.error is not None:
            return self.error
        return float("nan") if self.max_abs_error is None else self.max_abs_error

    @property
    def passed(self) -> bool:
        if self.max_abs_error is None:  # unmeasurable only when Flex ops were explicitly allowed
            return bool(self.note)
        ok = self.gated_error <= self.gate
        if self.auc_delta is not None and self.auc_gate is not None:
            ok = ok and self.auc_delta <= self.auc_gate
        return ok


class ParityFailed(RuntimeError):
    """At least one artifact missed its gate; the message is the table of failures."""

    def __init__(self, failed: list[ParityResult]) -> None:
        super().__init__("parity gate failed:\n" + format_table(failed))
        self.failed = failed


def run_litert(path: Path, signature: str, rows: Rows) -> dict[str, np.ndarray]:
    """All rows through the LiteRT signature runner (one batch)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(signature)
    return {k: np.asarray(v) for k, v in runner(**rows.inputs).items()}


def output_scale(reference: np.ndarray) -> float:
    """max(1, max - min) of one SavedModel output over the parity rows (see the module docstring)."""
    ref = np.asarray(reference, dtype=np.float64)
    return max(1.0, float(np.ptp(ref))) if ref.size else 1.0


def errors(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """output -> (max |Δ|, scale) (names must match, shapes must hold the same values)."""
    out: dict[str, tuple[float, float]] = {}
    for name, ref in reference.items():
        if name not in other:
            raise ValueError(f"converted model has no output {name!r} (has {', '.join(other)})")
        got = np.asarray(other[name]).reshape(ref.shape).astype(np.float64)
        delta = float(np.max(np.abs(got - ref.astype(np.float64)))) if ref.size else 0.0
        out[name] = (delta, output_scale(ref))
    return out


def max_abs_error(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    """Largest raw |Δ| over every output."""
    return max((delta for delta, _ in errors(reference, other).values()), default=0.0)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney U) formula with tied scores sharing their mean rank."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        raise ValueError("AUC needs both positive and negative labels")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        stop = start
        while stop + 1 < len(scores) and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def auc_delta(labels: np.ndarray | None, reference: np.ndarray, other: np.ndarray) -> float | None:
    """|AUC(other) - AUC(reference)| on the labelled rows, None without usable labels."""
    if labels is None or len(np.unique(labels)) < 2:
        return None
    n = len(labels)
    ref, got = reference.reshape(len(reference), -1)[:n, 0], other.reshape(len(other), -1)[:n, 0]
    return abs(roc_auc(labels, got) - roc_auc(labels, ref))


def compare(
    target: str,
    variant: str,
    rows: Rows,
    reference: dict[str, np.ndarray],
    other: dict[str, np.ndarray],
    gate: float,
    auc_gate: float | None,
) -> ParityResult:
    """Gate one artifact (scaled error, see the module docstring); int8 also gates the AUC change when
    rows carry labels."""
    found = errors(reference, other)
    worst = max(found, key=lambda k: found[k][0] / found[k][1]) if found else None
    delta_max, scale = found[worst] if worst is not None else (0.0, 1.0)
    delta = None
    if auc_gate is not None and len(reference) == 1:
        name = next(iter(reference))
        delta = auc_delta(rows.labels, reference[name], np.asarray(other[name]))
    return ParityResult(
        target=target,
        variant=variant,
        rows=rows.count,
        max_abs_error=max((d for d, _ in found.values()), default=0.0),
        gate=gate,
        error=delta_max / scale,
        scale=scale,
        auc_delta=delta,
        auc_gate=auc_gate if delta is not None else None,
    )


def format_table(results: list[ParityResult]) -> str:
    """Fixed-width table: target, variant, rows, max |Δ|, scale, max |Δ|/scale (gated), gate, ΔAUC, result."""
    head = (
        f"{'target':<7} {'variant':<8} {'rows':>5} {'max|Δ|':>10} {'scale':>7} {'/scale':>10} {'gate':>8} "
        f"{'ΔAUC':>9} result"
    )
    lines = [head]
    for r in results:
        err = "n/a" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
        scaled = "n/a" if r.max_abs_error is None else f"{r.gated_error:.3g}"
        auc = "-" if r.auc_delta is None else f"{r.auc_delta:.4f}"
        verdict = "ok" if r.passed else "FAIL"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"{r.target:<7} {r.variant:<8} {r.rows:>5} {err:>10} {r.scale:>7.3g} {scaled:>10} {r.gate:>8.0e} "
            f"{auc:>9} {verdict}{note}"
        )
    return "\n".join(lines)
