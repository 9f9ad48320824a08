"""What the converted bundles must match: the SavedModel's own predictions, and each variant's gate."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from export.convert.settings import DEFAULT_GATES  # used when the manifest records no gate


def manifest(artifacts: Path) -> dict[str, Any]:
    return dict(json.loads((artifacts / "manifest.json").read_text()))


def parity_gate(artifacts: Path, kind: str, model: str, variant: str) -> float:
    """The gate `make export` proved for this artifact (manifest), else the documented default."""
    for entry in manifest(artifacts)["models"][model].get("artifacts", []):
        if entry.get("kind") == kind and entry.get("variant") == variant and entry.get("parity_gate"):
            return float(entry["parity_gate"])
    return DEFAULT_GATES[(kind, variant)]


@functools.cache
def _signature(saved_model_dir: Path) -> Any:
    import tensorflow as tf

    return tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]


def saved_model_dir(artifacts: Path, model: str) -> Path:
    return artifacts / manifest(artifacts)["models"][model]["path"]


def saved_model_predict(artifacts: Path, model: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run the exported SavedModel's serving_default on `inputs` (cast to the signature's dtypes)."""
    import tensorflow as tf

    fn = _signature(saved_model_dir(artifacts, model))
    specs = fn.structured_input_signature[1]
    feed = {k: tf.constant(np.asarray(v, dtype=specs[k].dtype.as_numpy_dtype)) for k, v in inputs.items()}
    return {k: v.numpy() for k, v in fn(**feed).items()}
