"""`<version>/model.tflite`: the parity-proven TFLite model that `--prefer_tflite_model=true` serves.

Written into the unpublished version directory (export.publish.publishing), so the version appears
with its SavedModel and its TFLite model at once. The variant is the registry's choice
(`KitModel.served_tflite`); it is converted and gated exactly as `tfkit convert` does (same gates, same
real rows), then given the SavedModel's SignatureDefs as TF Serving reads them (lite_signatures).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.models import KitModel
from serving.tflite_session import TFLITE_MODEL


@dataclass(frozen=True)
class VersionTflite:
    path: Path
    variant: str
    signatures: tuple[str, ...]
    parity_max_abs_error: float | None
    parity_error: float | None
    parity_scale: float
    parity_gate: float


def replayable_warmup(logs: list[Any], lite: VersionTflite | None) -> list[Any]:
    """The warmup records every serving mode of the version replays without failing its load.

    TF Serving warms a version up whichever session loaded it (saved_model_bundle_source_adapter.cc
    RunSavedModelWarmup after saved_model_bundle_factory.cc LoadTfLiteModel), and a record that fails
    fails the load. The TFLite session runs Predict on its own signatures only, so a version holding a
    model.tflite keeps just the Predict records of those signatures (the SavedModel's other signatures
    then warm up on their first request)."""
    if lite is None:
        return logs
    return [
        log
        for log in logs
        if log.WhichOneof("log_type") == "predict_log"
        and log.predict_log.request.model_spec.signature_name in lite.signatures
    ]


def write_version_tflite(version_dir: Path, kit: KitModel, artifacts: Path) -> VersionTflite | None:
    """Convert `version_dir`'s serving_default to `kit.served_tflite`, prove parity, add SignatureDefs,
    write `version_dir/model.tflite`. None when the model serves no TFLite variant."""
    from export.convert.converter import convert_model
    from export.convert.lite_signatures import signature_defs_for, with_signature_defs
    from export.convert.settings import ConvertSettings

    variant = kit.served_tflite
    if variant is None:
        return None
    with tempfile.TemporaryDirectory(prefix=f".tflite-{kit.name}-", dir=artifacts) as scratch:
        settings = ConvertSettings(
            saved_model_dir=version_dir,
            output_dir=Path(scratch),
            name=kit.name,
            tflite_variants=(variant,),
            tfjs_variants=(),
            artifacts_dir=artifacts,
            kit_model=kit.name,
        )
        (result,) = convert_model(settings, lambda _step: None)  # raises ParityFailed past the gate
        model = result.bundle.read_bytes()
    signature_defs = signature_defs_for(model, version_dir)
    path = version_dir / TFLITE_MODEL
    path.write_bytes(with_signature_defs(model, signature_defs))
    parity = result.parity
    assert parity is not None
    return VersionTflite(
        path=path,
        variant=variant,
        signatures=tuple(sorted(signature_defs)),
        parity_max_abs_error=parity.max_abs_error,
        parity_error=parity.error,
        parity_scale=parity.scale,
        parity_gate=parity.gate,
    )
