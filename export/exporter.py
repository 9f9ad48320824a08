"""`tfkit export`: trained checkpoints -> a SavedModel version with warmup requests + manifest entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from export.manifest import add_artifact, artifact_entry, set_model
from export.publish import next_version, publishing
from export.settings import ExportSettings

MODELS = ("linear", "ctr")
Log = Callable[[str], None]


def _metrics(model_dir: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    path = model_dir / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train the model first")
    raw = json.loads(path.read_text())
    return {k: raw.get(k) for k in keys}


def _linear(settings: ExportSettings) -> tuple[Any, dict[str, Any], list[Any], dict[str, Any]]:
    from export.linear import restore_linear
    from export.samples import linear_examples, linear_inputs
    from export.signatures import linear_serving_module
    from export.warmup import predict_log, regress_log

    module, signatures = linear_serving_module(restore_linear(settings.model_dir))
    inputs = linear_inputs(settings.warmup_rows, seed=1)
    logs = [
        predict_log("linear", "serving_default", inputs),
        regress_log("linear", "regression", linear_examples(inputs["x"])),
    ]
    return module, signatures, logs, _metrics(settings.model_dir, ("w", "b", "loss"))


def _ctr(settings: ExportSettings) -> tuple[Any, dict[str, Any], list[Any], dict[str, Any]]:
    from export.ctr_train import load_config, restore_model
    from export.samples import ctr_inputs_from_records, ctr_records
    from export.signatures import ctr_serving_module
    from export.warmup import classify_log, predict_log

    config = load_config(settings.model_dir)
    module, signatures = ctr_serving_module(restore_model(settings.model_dir), config.feature_len)
    records = ctr_records(config.data_dir, settings.warmup_rows, seed=1)
    logs = [
        predict_log("ctr", "serving_default", ctr_inputs_from_records(records)),
        classify_log("ctr", "classification", records),
        predict_log("ctr", "predict_examples", {"examples": _string_array(records)}),
    ]
    return module, signatures, logs, _metrics(settings.model_dir, ("auc", "logloss", "bayes_auc"))


def _string_array(records: list[bytes]) -> Any:
    import numpy as np

    return np.array(records, dtype=object)


def export_model(settings: ExportSettings, log: Log = print) -> dict[str, Any]:
    """Publish the next (or the given) version of settings.model; return its manifest artifact entry."""
    import tensorflow as tf

    from export.warmup import write_warmup

    if settings.model not in MODELS:
        raise ValueError(f"unknown model {settings.model!r}: expected one of {', '.join(MODELS)}")
    build = _linear if settings.model == "linear" else _ctr
    module, signatures, logs, metrics = build(settings)
    base = settings.artifacts / "models" / settings.model
    version = settings.version if settings.version is not None else next_version(base)
    with publishing(base, version) as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        write_warmup(staging, logs)
    final = base / str(version)
    entry = artifact_entry(settings.artifacts, "saved_model", "float32", final)
    set_model(settings.artifacts, settings.model, version, metrics)
    add_artifact(settings.artifacts, settings.model, entry)
    log(f"export: {settings.model} version {version} -> {final} ({entry['bytes']} bytes)")
    return entry
