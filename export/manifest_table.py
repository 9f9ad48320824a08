"""`tfkit inspect`: the manifest as readable tables (models, versions, metrics, artifacts)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from export.manifest import load_manifest


def human_bytes(size: int) -> str:
    """1234567 -> '1.2 MiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with column widths fitted to the content."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _error(artifact: dict[str, Any]) -> str:
    error = artifact.get("parity_error", artifact.get("parity_max_abs_error"))  # the gated (scaled) error
    if error is None:
        return "-"
    gate = artifact.get("parity_gate")
    verdict = "" if gate is None else (" ok" if float(error) <= float(gate) else " FAIL")
    return f"{float(error):.2e}" + ("" if gate is None else f" <= {float(gate):.0e}") + verdict


def render(artifacts: Path) -> str:
    """Render the manifest of an artifacts directory."""
    manifest = load_manifest(artifacts)
    models: dict[str, Any] = manifest.get("models", {})
    if not models:
        return f"{artifacts}: no models in manifest.json (run `make export`)"
    model_rows = [
        [
            name,
            str(entry.get("version", "-")),
            str(entry.get("path", "-")),
            ", ".join(f"{k}={_metric(v)}" for k, v in sorted(entry.get("metrics", {}).items())),
        ]
        for name, entry in sorted(models.items())
    ]
    artifact_rows = [
        [
            name,
            str(a.get("kind", "-")),
            str(a.get("variant", "-")),
            human_bytes(int(a.get("bytes", 0))),
            _error(a),
            str(a.get("path", "-")),
            str(a.get("sha256", ""))[:12],
        ]
        for name, entry in sorted(models.items())
        for a in entry.get("artifacts", [])
        if a.get("kind") != "sidecar"
    ]
    return "\n\n".join(
        [
            f"artifacts: {artifacts}",
            table(["model", "version", "path", "metrics"], model_rows),
            table(["model", "kind", "variant", "size", "parity max|err|", "path", "sha256"], artifact_rows),
        ]
    )
