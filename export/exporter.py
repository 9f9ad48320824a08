"""`tfkit export`: trained checkpoints -> a SavedModel version with warmup requests and its served TFLite
model (`model.tflite`) + their ledger entries.

What to build comes from the model registry (export/models/); the manifest is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from export.manifest import artifact_entry, editing, put_artifact, record_version
from export.models import get
from export.publish import next_version, publishing
from export.settings import ExportSettings
from serving.tflite_session import TFLITE_MODEL

VERSION_TFLITE = "version_tflite"  # manifest kind of `<version>/model.tflite` (--prefer_tflite_model)

Log = Callable[[str], None]


def export_model(settings: ExportSettings, log: Log = print) -> dict[str, Any]:
    """Publish the next (or the given) version of settings.model; return its manifest artifact entry."""
    import tensorflow as tf

    from export.version_tflite import replayable_warmup, write_version_tflite
    from export.warmup import write_warmup

    kit = get(settings.model)
    metrics = kit.metrics(settings.model_dir)
    module, signatures = kit.serving_module(settings.model_dir)
    logs = kit.warmup_logs(settings.model_dir, settings.warmup_rows)
    base = settings.artifacts / "models" / kit.name
    version = settings.version if settings.version is not None else next_version(base)
    with publishing(base, version) as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        lite = write_version_tflite(staging, kit, settings.artifacts)  # lands before the version is published
        write_warmup(staging, replayable_warmup(logs, lite))
    final = base / str(version)
    entry = artifact_entry(settings.artifacts, "saved_model", "float32", final)
    entries = [entry]
    if lite is not None:
        entries.append(
            artifact_entry(
                settings.artifacts,
                VERSION_TFLITE,
                lite.variant,
                final / TFLITE_MODEL,
                signature=",".join(lite.signatures),
                parity_max_abs_error=lite.parity_max_abs_error,
                parity_error=lite.parity_error,
                parity_scale=lite.parity_scale,
                parity_gate=lite.parity_gate,
            )
        )
    with editing(settings.artifacts) as manifest:
        record_version(manifest, kit.name, version, metrics, kit_model=kit.name)
        for one in entries:
            put_artifact(manifest, kit.name, one)
    log(f"export: {kit.name} version {version} -> {final} ({entry['bytes']} bytes)")
    return entry
