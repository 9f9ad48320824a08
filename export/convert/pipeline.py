"""`make export`, convert stage: both models' latest versions -> TFLite + TF.js, parity, manifest entries."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from export.convert.settings import TFJS_VARIANTS, TFLITE_VARIANTS, ConvertSettings

# What `make export` ships per model: (tflite variants, tfjs variants).
PLAN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ctr": (TFLITE_VARIANTS, TFJS_VARIANTS),
    # linear's two weights are below the quantization threshold: quantized TF.js bundles would equal float32,
    # and float16 TFLite only adds fp16 rounding of w (|Δ| ~1.6e-3 at x ~ 8).
    "linear": (("float32", "dynamic"), ("float32",)),
}


class ConvertStageError(RuntimeError):
    """The convert stage of `make export` failed (unsupported ops, parity gate, ...)."""


def model_settings(artifacts: Path, model: str, version: int) -> ConvertSettings:
    tflite, tfjs = PLAN[model]
    return ConvertSettings(
        saved_model_dir=artifacts / "models" / model / str(version),
        output_dir=artifacts,
        name=model,
        tflite_variants=tflite,
        tfjs_variants=tfjs,
        artifacts_dir=artifacts,
    )


def convert_all(artifacts: Path, progress: Callable[[str], None]) -> None:
    """Convert the latest version of every planned model, prove parity and record each artifact."""
    from export.convert.converter import UnsupportedOpsError, convert_model, manifest_entry
    from export.convert.parity import ParityFailed, format_table
    from export.manifest import add_artifact, load_manifest

    models = load_manifest(artifacts).get("models", {})
    for model in PLAN:
        if model not in models:
            raise ConvertStageError(f"manifest.json in {artifacts} has no model {model!r} to convert")
        settings = model_settings(artifacts, model, int(models[model]["version"]))
        started = time.perf_counter()
        try:
            results = convert_model(settings, lambda _step: None)  # one summary line per model below
        except (ParityFailed, UnsupportedOpsError) as err:
            raise ConvertStageError(f"convert {model}: {err}") from err
        for art in results:
            add_artifact(artifacts, model, manifest_entry(art, artifacts, settings.signature))
        table = format_table([r.parity for r in results if r.parity is not None])
        progress(
            f"convert {model}: {len(results)} artifacts in {time.perf_counter() - started:.1f}s\n{table}"
        )
