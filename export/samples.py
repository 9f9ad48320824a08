"""Real input rows for warmup files, tests, parity checks, benchmarks and the browser demo.

`sample_inputs(model, artifacts, n, seed)` gives serving_default inputs (float32 / int64 numpy arrays);
`sample_examples(artifacts, n, seed, model="ctr")` gives serialized tf.Examples. Each registered model
(export/models/) says where its rows come from: ctr from the held-out shards under `<artifacts>/data/ctr`,
linear from the training distribution x ~ N(2, 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.models import get


def sample_inputs(model: str, artifacts: Path, n: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """serving_default inputs for the registered `model` as numpy arrays."""
    return get(model).sample_inputs(Path(artifacts), n, seed)


def sample_examples(artifacts: Path, n: int = 256, seed: int = 0, model: str = "ctr") -> list[bytes]:
    """Serialized tf.Examples of the registered `model` (ctr: label, feature, user_id, article_id)."""
    return get(model).sample_examples(Path(artifacts), n, seed)
