"""The CTR record schema: `tf.train.Example` with `label`, `feature`, `user_id`, `article_id`.

`feature` is a bytes feature holding a float64 little-endian vector (default length 121:
channel id, 100-d article vector, 10 user weights, 10 article keyword weights).

The one source of the CTR data facts: the id inputs and their range, the feature length and the order of
its groups. Training, the importer, the reader, the model registry and the sidecars derive from these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ID_INPUTS = ("user_id", "article_id")
MAX_ID = 2**31  # exclusive: valid ids are 0 <= id < MAX_ID (TF.js feeds them as int32)
USER_WEIGHTS = 10
KEYWORD_WEIGHTS = 10
AFFINITY_LEN = USER_WEIGHTS + KEYWORD_WEIGHTS  # the vector ends with the user and keyword weights
FEATURE_LEN = 121  # the default: 1 channel id + 100-d article vector + AFFINITY_LEN
FEATURE_DTYPE = np.dtype("<f8")


def feature_layout(feature_len: int = FEATURE_LEN) -> list[tuple[str, int, int]]:
    """(group name, start, stop) of the feature vector, in order, for a vector of `feature_len` values."""
    article = feature_len - 1 - AFFINITY_LEN
    if article < 1:
        raise ValueError(f"feature_len must be > {1 + AFFINITY_LEN}, got {feature_len}")
    widths = [("channel_id", 1), ("article_vector", article), ("user_weights", USER_WEIGHTS)]
    widths.append(("article_keyword_weights", KEYWORD_WEIGHTS))
    out, start = [], 0
    for name, width in widths:
        out.append((name, start, start + width))
        start += width
    return out


SCHEMA_DOC = {
    "label": "int64 (clicked 0/1)",
    "feature": "bytes: float64 little-endian vector ["
    + ", ".join(f"{name}({stop - start})" for name, start, stop in feature_layout())
    + "]",
    "user_id": f"int64 (0 <= id < 2**{MAX_ID.bit_length() - 1})",
    "article_id": f"int64 (0 <= id < 2**{MAX_ID.bit_length() - 1})",
}


def encode_example(label: int | None, feature: np.ndarray, user_id: int, article_id: int) -> bytes:
    """Serialize one record; `label=None` leaves the label out (serving requests carry none). The bytes are
    protobuf's deterministic serialization, written without TensorFlow (export/records.py)."""
    from export.records import example_bytes

    raw = np.asarray(feature, dtype=FEATURE_DTYPE).tobytes()
    return example_bytes(None if label is None else int(label), raw, int(user_id), int(article_id))


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
