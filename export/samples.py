"""Real input rows for warmup files, tests, parity checks and benchmarks.

`sample_inputs(model, artifacts, n, seed)` gives serving_default inputs (float32 / int64 numpy arrays);
`sample_examples(artifacts, n, seed)` gives serialized CTR tf.Examples in the source schema.
CTR rows come from the held-out shards under `<artifacts>/data/ctr`; linear rows from the seed's
distribution x ~ N(2, 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.schema import decode_example

CTR_DATA = Path("data") / "ctr"


def ctr_records(data_dir: Path, n: int, seed: int = 0) -> list[bytes]:
    """n serialized records drawn (seeded, with replacement when n exceeds the split) from eval shards."""
    import tensorflow as tf

    from export.shards import split_files

    files = split_files(data_dir, "eval")
    wanted = max(n, 1)
    records: list[bytes] = []
    for record in tf.data.TFRecordDataset([str(f) for f in files]).take(max(4 * wanted, 1024)):
        records.append(bytes(record.numpy()))
    if not records:
        raise ValueError(f"no records in the eval shards of {data_dir}")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(records), size=n, replace=n > len(records))
    return [records[int(i)] for i in picks]


def ctr_inputs_from_records(records: list[bytes]) -> dict[str, np.ndarray]:
    """serving_default inputs of the CTR model from serialized records."""
    rows = [decode_example(r) for r in records]
    return {
        "feature": np.stack([row["feature"] for row in rows]).astype(np.float32),
        "user_id": np.array([row["user_id"] for row in rows], dtype=np.int64),
        "article_id": np.array([row["article_id"] for row in rows], dtype=np.int64),
    }


def linear_inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """serving_default inputs of the linear model: x float32 [n, 1]."""
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(2.0, 2.0, (n, 1)).astype(np.float32)}


def sample_inputs(model: str, artifacts: Path, n: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """serving_default inputs for `model` ("linear" or "ctr") as numpy arrays."""
    if model == "linear":
        return linear_inputs(n, seed)
    if model == "ctr":
        return ctr_inputs_from_records(ctr_records(Path(artifacts) / CTR_DATA, n, seed))
    raise ValueError(f"unknown model {model!r}: expected 'linear' or 'ctr'")


def sample_examples(artifacts: Path, n: int = 256, seed: int = 0) -> list[bytes]:
    """Serialized CTR tf.Examples (label, feature, user_id, article_id) from the held-out split."""
    return ctr_records(Path(artifacts) / CTR_DATA, n, seed)


def linear_examples(x: np.ndarray) -> list[bytes]:
    """Serialized tf.Examples with float feature `x` (the regression signature's input)."""
    from tensorflow.core.example import example_pb2

    out = []
    for value in np.asarray(x, dtype=np.float32).reshape(-1):
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(float(value))
        out.append(bytes(example.SerializeToString()))
    return out
