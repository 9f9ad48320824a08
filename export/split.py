"""Where a CTR row goes (its split and shard: a pure function of the row and the seed); writing shards.

`tfkit data import` and `tfkit data spark` both place rows with `place`, so for the same inputs, shard
count, eval fraction and seed they write the same records into the same split and shard, whatever the
order of the rows or the partitioning of the job. The hash reads the row's canonical content (label, ids,
the float64 feature bytes), not its serialization, so it does not depend on how protobuf orders fields.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from pathlib import Path

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


def place(key: bytes, seed: int, eval_fraction: float, shards: int) -> tuple[str, int]:
    """(split, shard index) of a row: eval when the first 64 hash bits, as a fraction of 2**64, fall below
    eval_fraction; the shard comes from the next 64 bits."""
    digest = hashlib.blake2b(key, digest_size=16, key=struct.pack("<q", seed)).digest()
    split = "eval" if int.from_bytes(digest[:8], "little") < eval_fraction * 2**64 else "train"
    count = shards if split == "train" else eval_shards(shards)
    return split, int.from_bytes(digest[8:], "little") % count


def check_fraction(eval_fraction: float) -> None:
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")


COMPRESSIONS = {"none": "", "gzip": "GZIP"}  # --compression value -> tf.io compression type


def shard_file(split: str, index: int, count: int, compression: str = "none") -> str:
    """`train-00001-of-00004.tfrecord`, with `.gz` appended for gzip-compressed shards."""
    return shard_name(split, index, count) + (".gz" if compression == "gzip" else "")


def compression_type(path: Path | str) -> str:
    """The tf.io compression type of a shard file, by its name (`.gz`: GZIP)."""
    return "GZIP" if str(path).endswith(".gz") else ""


def write_shard(path: Path, records: Iterable[bytes], compression: str = "none") -> int:
    """Write one TFRecord shard (optionally gzip-compressed); return the record count."""
    import tensorflow as tf

    count = 0
    with tf.io.TFRecordWriter(str(path), options=COMPRESSIONS[compression]) as writer:
        for record in records:
            writer.write(record)
            count += 1
    return count


def write_split(out_dir: Path, split: str, shards: list[list[bytes]], compression: str = "none") -> list[str]:
    """Write the placed records of one split, shard i into `<split>-0000i-of-0000N.tfrecord`; the names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [shard_file(split, i, len(shards), compression) for i in range(len(shards))]
    for name, records in zip(names, shards, strict=True):
        write_shard(out_dir / name, records, compression)
    return names
