"""`make export`, convert stage: each registered model's latest version -> its planned TFLite + TF.js
variants (the registry's conversion plan), parity, and one manifest write for every artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from export.convert.settings import ConvertSettings
from export.models import KitModel


class ConvertStageError(RuntimeError):
    """The convert stage of `make export` failed (unsupported ops, parity gate, ...)."""


def model_settings(artifacts: Path, kit: KitModel, version: int) -> ConvertSettings:
    return ConvertSettings(
        saved_model_dir=artifacts / "models" / kit.name / str(version),
        output_dir=artifacts,
        name=kit.name,
        tflite_variants=kit.tflite_variants,
        tfjs_variants=kit.tfjs_variants,
        artifacts_dir=artifacts,
        kit_model=kit.name,
    )


def convert_all(artifacts: Path, progress: Callable[[str], None]) -> None:
    """Convert the latest version of every registered model, prove parity, record every artifact."""
    from export.convert.converter import UnsupportedOpsError, convert_model, ledger_entries
    from export.convert.parity import ParityFailed, format_table
    from export.manifest import editing, load_manifest, put_artifact
    from export.models import models

    versions = load_manifest(artifacts).get("models", {})
    entries: dict[str, list[dict[str, Any]]] = {}
    for name, kit in models().items():
        if name not in versions:
            raise ConvertStageError(f"manifest.json in {artifacts} has no model {name!r} to convert")
        settings = model_settings(artifacts, kit, int(versions[name]["version"]))
        started = time.perf_counter()
        try:
            results = convert_model(settings, lambda _step: None)  # one summary line per model below
        except (ParityFailed, UnsupportedOpsError) as err:
            raise ConvertStageError(f"convert {name}: {err}") from err
        entries[name] = [e for art in results for e in ledger_entries(art, artifacts, settings.signature)]
        table = format_table([r.parity for r in results if r.parity is not None])
        progress(f"convert {name}: {len(results)} artifacts in {time.perf_counter() - started:.1f}s\n{table}")
    with editing(artifacts) as manifest:
        for name, found in entries.items():
            for entry in found:
                put_artifact(manifest, name, entry)
