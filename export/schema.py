"""The CTR record schema: `tf.train.Example` with `label`, `feature`, `user_id`, `article_id`.

`feature` is a bytes feature holding a float64 little-endian vector (default length 121:
channel id, 100-d article vector, 10 user weights, 10 article keyword weights).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_ID = 2**31
SCHEMA_DOC = {
    "label": "int64 (clicked 0/1)",
    "feature": "bytes: float64 little-endian vector [channel_id, article_vector(100), "
    "user_weights(10), article_keyword_weights(10)]",
    "user_id": "int64 (0 <= id < 2**31)",
    "article_id": "int64 (0 <= id < 2**31)",
}
FEATURE_DTYPE = np.dtype("<f8")


def encode_example(label: int | None, feature: np.ndarray, user_id: int, article_id: int) -> bytes:
    """Serialize one record; `label=None` leaves the label out (serving requests carry none)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    feats = example.features.feature
    if label is not None:
        feats["label"].int64_list.value.append(int(label))
    feats["feature"].bytes_list.value.append(np.asarray(feature, dtype=FEATURE_DTYPE).tobytes())
    feats["user_id"].int64_list.value.append(int(user_id))
    feats["article_id"].int64_list.value.append(int(article_id))
    return bytes(example.SerializeToString())


def decode_example(serialized: bytes) -> dict[str, Any]:
    """Parse one record back into python values (label is None when absent)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    feats = example.features.feature
    label = int(feats["label"].int64_list.value[0]) if feats["label"].int64_list.value else None
    raw = feats["feature"].bytes_list.value[0] if feats["feature"].bytes_list.value else b""
    return {
        "label": label,
        "feature": np.frombuffer(raw, dtype=FEATURE_DTYPE),
        "user_id": int(feats["user_id"].int64_list.value[0]),
        "article_id": int(feats["article_id"].int64_list.value[0]),
    }


def serving_feature_spec() -> dict[str, Any]:
    """Parse spec of a serving request example (the label is not needed)."""
    import tensorflow as tf

    return {
        "feature": tf.io.FixedLenFeature([], tf.string),
        "user_id": tf.io.FixedLenFeature([], tf.int64),
        "article_id": tf.io.FixedLenFeature([], tf.int64),
    }


def training_feature_spec() -> dict[str, Any]:
    """Parse spec of a training record: missing values parse as -1 / empty so the reader names the record."""
    import tensorflow as tf

    return {
        "feature": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "user_id": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "article_id": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    }


def shard_name(split: str, index: int, count: int) -> str:
    """`train-00001-of-00004.tfrecord`."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"
