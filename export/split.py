"""Where a CTR row goes (its split and shard: a pure function of the row and the seed); writing shards.

`tfkit data import` and `tfkit data spark` both place rows with `place`, so for the same inputs, shard
count, eval fraction and seed they write the same records into the same split and shard, whatever the
order of the rows or the partitioning of the job. The hash reads the row's canonical content (label, ids,
the float64 feature bytes), not its serialization, so it does not depend on how protobuf orders fields.
"""

from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import numpy as np

from export.schema import shard_name

SPLITS = ("train", "eval")


def eval_shards(shards: int) -> int:
    """The eval split gets half the train shards (at least one), as `tfkit data generate` does."""
    return max(1, shards // 2)


def shard_counts(shards: int) -> dict[str, int]:
    """{"train": shards, "eval": eval_shards(shards)}."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    return {"train": shards, "eval": eval_shards(shards)}


def row_key(label: int, feature: bytes, user_id: int, article_id: int) -> bytes:
    """The canonical bytes of a row that the placement hashes."""
    return struct.pack("<qqq", label, user_id, article_id) + feature


def _eval_below(eval_fraction: float) -> int:
    """The largest first-64-bits value of an eval row: x < eval_fraction * 2**64 exactly, for integers x."""
    return math.ceil(eval_fraction * 2**64) - 1


def place(key: bytes, seed: int, eval_fraction: float, shards: int) -> tuple[str, int]:
    """(split, shard index) of a row: eval when the first 64 hash bits, as a fraction of 2**64, fall below
    eval_fraction; the shard comes from the next 64 bits."""
    digest = hashlib.blake2b(key, digest_size=16, key=struct.pack("<q", seed)).digest()
    split = "eval" if int.from_bytes(digest[:8], "little") <= _eval_below(eval_fraction) else "train"
    count = shards if split == "train" else eval_shards(shards)
    return split, int.from_bytes(digest[8:], "little") % count


def place_rows(
    labels: np.ndarray,
    features: np.ndarray,
    user_ids: np.ndarray,
    article_ids: np.ndarray,
    seed: int,
    eval_fraction: float,
    shards: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`place` of many rows at once: (is_eval bool array, shard index array). The row keys are assembled
    in numpy (the bytes of `row_key`); the hash itself is one blake2b call a row."""
    ids = np.stack([labels, user_ids, article_ids], axis=1).astype("<i8")
    keys = np.hstack([ids.view(np.uint8), np.ascontiguousarray(features, "<f8").view(np.uint8)])
    secret = struct.pack("<q", seed)
    digests = b"".join(hashlib.blake2b(k, digest_size=16, key=secret).digest() for k in keys)
    halves = np.frombuffer(digests, "<u8").reshape(-1, 2)
    is_eval = halves[:, 0] <= np.uint64(_eval_below(eval_fraction))
    shard = np.where(is_eval, halves[:, 1] % np.uint64(eval_shards(shards)), halves[:, 1] % np.uint64(shards))
    return is_eval, shard.astype(np.int64)


def check_fraction(eval_fraction: float) -> None:
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")


def shard_file(split: str, index: int, count: int, compression: str = "none") -> str:
    """`train-00001-of-00004.tfrecord`, with `.gz` appended for gzip-compressed shards."""
    return shard_name(split, index, count) + (".gz" if compression == "gzip" else "")


def compression_type(path: Path | str) -> str:
    """The tf.io compression type of a shard file, by its name (`.gz`: GZIP)."""
    return "GZIP" if str(path).endswith(".gz") else ""
