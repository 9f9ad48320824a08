"""The executor side of `tfkit data spark` (export/spark_data.py runs the job): the functions Spark ships
to its Python workers, and what they share with the driver.

- `encoder`: Arrow batches of click-log rows -> (part, payload) batches, through export/encode.py (the
  importer's path): part is the row's train shard, eval shard, or the rejects;
- `writer`: the Arrow batches of one partition (one part after the shuffle) -> its shard file, streamed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.importer import COLUMNS
from export.settings import ImportSettings
from export.split import shard_counts, shard_file

REJECTS = "rejects"


@dataclass(frozen=True)
class SparkDataSettings:
    """`tfkit data spark`: the options of `tfkit data import` plus the Spark master and compression."""

    inputs: tuple[str, ...]
    out: str
    shards: int = ImportSettings.shards  # the importer's defaults: one source
    eval_fraction: float = ImportSettings.eval_fraction
    feature_len: int = ImportSettings.feature_len
    delimiter: str = ImportSettings.delimiter
    seed: int = ImportSettings.seed
    master: str | None = "local[*]"  # None: keep the master spark-submit configured
    compression: str = "none"


def storage(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) of a local path or an object-store URI (s3a:// is read as s3://)."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), str(Path(uri).resolve())
    return fs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))


def encoder(settings: SparkDataSettings) -> Any:
    """The executor side of step 1: Arrow batches -> (part, payload) batches with part = the shard key."""
    counts = shard_counts(settings.shards)
    rejects_part = counts["train"] + counts["eval"]

    def encode(batches: Iterator[Any]) -> Iterator[Any]:
        import numpy as np
        import pyarrow as pa

        from export.encode import encode_columns

        for batch in batches:
            done = encode_columns(
                *(batch.column(name) for name in COLUMNS),
                feature_len=settings.feature_len,
                delimiter=settings.delimiter,
                seed=settings.seed,
                eval_fraction=settings.eval_fraction,
                shards=settings.shards,
            )
            parts = np.where(done.is_eval, counts["train"] + done.shard, done.shard).tolist()
            payloads = done.records
            if done.rejects:
                sources = batch.column("_source")
                for i, reason in done.rejects:
                    row = {name: batch.column(name)[i].as_py() for name in COLUMNS if name != "features"}
                    reject = {
                        "source": sources[i].as_py(),
                        "reason": reason,
                        **{k: str(v) for k, v in row.items()},
                    }
                    parts.append(rejects_part)
                    payloads.append(json.dumps(reject).encode())
            yield pa.RecordBatch.from_arrays(
                [pa.array(parts, pa.int32()), pa.array(payloads, pa.binary())], names=["part", "payload"]
            )

    return encode


def shard_path(settings: SparkDataSettings, part: int) -> tuple[str, str]:
    """(split, file name under the output) of a train or eval part; parts follow train then eval."""
    counts = shard_counts(settings.shards)
    split, shard = ("train", part) if part < counts["train"] else ("eval", part - counts["train"])
    return split, shard_file(split, shard, counts[split], settings.compression)


class _Parts:
    """The open files of the parts one task writes: a TFRecord writer per shard, a JSON-lines file for the
    rejects. Local output is written in place; object-store output is written to a scratch directory and
    uploaded when the task closes it."""

    def __init__(self, settings: SparkDataSettings, staging: str) -> None:
        self.settings, self.staging = settings, staging
        self.rejects_part = sum(shard_counts(settings.shards).values())
        self.remote = "://" in staging
        self.scratch = Path(tempfile.mkdtemp(prefix="tfkit-spark-")) if self.remote else None
        self.root = self.scratch or Path(storage(staging)[1])
        self.files: dict[int, tuple[str, Any]] = {}  # part -> (name under the output, open writer)
        self.counts: dict[int, int] = {}

    def _open(self, part: int) -> Any:
        from export.records import TFRecordFile

        if part == self.rejects_part:
            name = f"{REJECTS}/part-00000.jsonl"
            (self.root / REJECTS).mkdir(exist_ok=True)
            writer: Any = open(self.root / name, "wb")  # noqa: SIM115 - closed in close()
        else:
            name = shard_path(self.settings, part)[1]
            writer = TFRecordFile(self.root / name, self.settings.compression)
        self.files[part] = (name, writer)
        self.counts[part] = 0
        return writer

    def write(self, part: int, payload: bytes) -> None:
        writer = self.files[part][1] if part in self.files else self._open(part)
        writer.write(payload + b"\n" if part == self.rejects_part else payload)
        self.counts[part] += 1

    def close(self) -> dict[int, int]:
        """Close (and upload) every file; {part: records written}."""
        for name, writer in self.files.values():
            writer.close()
            if self.scratch is not None:
                filesystem, root = storage(self.staging)
                if name.startswith(REJECTS):
                    filesystem.create_dir(f"{root}/{REJECTS}")
                with (
                    open(self.scratch / name, "rb") as src,
                    filesystem.open_output_stream(f"{root}/{name}") as out,
                ):
                    shutil.copyfileobj(src, out)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self.counts


def writer(settings: SparkDataSettings, staging: str) -> Any:
    """The executor side of step 2: stream the Arrow batches of one partition into its shard files (and
    the rejects); yield one (part, count) row per part written."""

    def write(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        files = _Parts(settings, staging)
        try:
            for batch in batches:
                for part, payload in zip(
                    batch.column("part").to_pylist(), batch.column("payload").to_pylist(), strict=True
                ):
                    files.write(part, payload)
        finally:
            counts = files.close()
        yield pa.RecordBatch.from_arrays(
            [pa.array(list(counts), pa.int32()), pa.array(list(counts.values()), pa.int64())],
            names=["part", "count"],
        )

    return write


def empty_shard(settings: SparkDataSettings, staging: str, part: int) -> int:
    """Write the shard of a part no row fell into (empty, as the importer writes it); 0."""
    files = _Parts(settings, staging)
    files._open(part)
    return files.close()[part]
