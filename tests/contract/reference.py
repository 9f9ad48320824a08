"""The kit's SavedModels run in-process with TensorFlow: what the server's answers are compared with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.contract.targets import latest_version


class Reference:
    """Signatures of the exported SavedModels run in-process with TensorFlow (loaded once each)."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        self._loaded: dict[str, Any] = {}

    def model_dir(self, model: str) -> Path:
        """The served (latest) version of one of the kit's models."""
        return latest_version(self.artifacts / "models" / model)

    def run(self, model_dir: Path, signature: str, inputs: Any) -> dict[str, np.ndarray]:
        """Run `signature` in-process; a bare (non-dict) value feeds its only input."""
        import tensorflow as tf

        key = str(model_dir)
        if key not in self._loaded:
            self._loaded[key] = tf.saved_model.load(key)
        function = self._loaded[key].signatures[signature]
        _, specs = function.structured_input_signature
        if not isinstance(inputs, dict):
            (only,) = specs
            inputs = {only: inputs}
        tensors = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in function(**tensors).items()}
