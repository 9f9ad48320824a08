"""Writing sharded TFRecord files and the data set's meta.json."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from export.schema import SCHEMA_DOC, shard_name

META_FILE = "meta.json"


def write_shards(out_dir: Path, split: str, records: Iterable[bytes], shards: int) -> list[str]:
    """Write records round-robin into `shards` files named `<split>-0000i-of-0000N.tfrecord`."""
    from export.records import TFRecordFile

    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [shard_name(split, i, shards) for i in range(shards)]
    writers = [TFRecordFile(out_dir / name) for name in names]
    try:
        for i, record in enumerate(records):
            writers[i % shards].write(record)
    finally:
        for writer in writers:
            writer.close()
    return names


def write_meta(out_dir: Path, meta: dict[str, Any]) -> Path:
    """Write meta.json (schema, counts, shard names, bayes_auc when known)."""
    full = {"schema": SCHEMA_DOC, **meta}
    path = out_dir / META_FILE
    path.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return path


def read_meta(data_dir: Path) -> dict[str, Any]:
    """Load meta.json of a data directory, with a clear error when it is not one."""
    path = data_dir / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `tfkit data generate` or `tfkit data import` first")
    meta: dict[str, Any] = json.loads(path.read_text())
    return meta


def split_files(data_dir: Path, split: str) -> list[Path]:
    """The shard files of one split (`train` or `eval`), sorted."""
    files = sorted([*data_dir.glob(f"{split}-*-of-*.tfrecord"), *data_dir.glob(f"{split}-*.tfrecord.gz")])
    if not files:
        raise FileNotFoundError(f"no {split}-*.tfrecord shards in {data_dir}")
    return files
