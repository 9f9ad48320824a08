"""`tfkit data spark`: click logs -> sharded CTR TFRecords with Apache Spark (any master; spark-submit-able).

The same rows, validation, records and placement as `tfkit data import` (export/importer.py encodes and
validates a row, export/split.py places it), at Spark's scale:

1. each input (CSV, Parquet, or `table:NAME` from the catalog) is read by Spark and validated row by row
   in the executors (`mapInArrow`); a bad row becomes a reject carrying its source and the reason;
2. rows are keyed by their shard (train shards 0..N-1, eval shards N.., rejects last) and partitioned by
   that key, so each partition is exactly one shard, written by its executor (never collected);
3. the executors write into `<out>.tmp-<id>/`; the driver writes meta.json and `_SUCCESS` there and then
   swaps the directory into place (rename), so `<out>` holds the previous output or the new one.

Run it with `tfkit data spark INPUTS... [--out DIR] [--shards N] [--eval-fraction F] [--seed S]
[--master URL]`, or `spark-submit export/spark_data.py INPUTS... --out URI` (then the master comes from
spark-submit). Output on object storage (s3://, s3a://, gs://) goes through pyarrow's filesystems: an
object store has no atomic rename, so there `_SUCCESS` (written last) is the commit marker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.importer import COLUMNS
from export.schema import SCHEMA_DOC
from export.settings import ImportSettings
from export.split import check_fraction, shard_counts, shard_file, write_shard

SUCCESS = "_SUCCESS"
REJECTS = "rejects"
TABLE_PREFIX = "table:"


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


def _filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) of a local path or an object-store URI (s3a:// is read as s3://)."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), str(Path(uri).resolve())
    return fs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))


def _read(spark: Any, source: str) -> Any:
    """A DataFrame of the COLUMNS of one input, plus `_source` (the file each row came from)."""
    from pyspark.sql import functions as F

    if source.startswith(TABLE_PREFIX):
        frame = spark.table(source[len(TABLE_PREFIX) :])
    elif source.lower().endswith((".csv", ".txt")):
        frame = spark.read.csv(source, header=True, quote='"', escape='"')
    else:
        frame = spark.read.parquet(source)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    return frame.select(*COLUMNS).withColumn("_source", F.input_file_name())


def _feature_cells(column: Any, feature_len: int) -> Any:
    """The features of an Arrow batch: one float64 row per cell when every cell is a full-length list
    (zero-copy reshape, the fast path for Parquet list columns), else the cells as Python values."""
    import pyarrow as pa

    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        if column.null_count == 0 and len(column) and (lengths == feature_len).all():
            flat = column.flatten().to_numpy(zero_copy_only=False)
            if flat.dtype.kind == "f" and not (len(column) and column.offset):
                return flat.astype("<f8", copy=False).reshape(len(column), feature_len)
    return column.to_pylist()


def _encoder(settings: SparkDataSettings) -> Any:
    """The executor side of step 1: Arrow batches -> (part, payload) batches with part = the shard key."""
    counts = shard_counts(settings.shards)
    rejects_part = counts["train"] + counts["eval"]

    def encode(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        from export.importer import encode_row
        from export.split import place

        for batch in batches:
            users, articles, clicks, sources = (
                batch.column(name).to_pylist() for name in ("user_id", "article_id", "clicked", "_source")
            )
            features = _feature_cells(batch.column("features"), settings.feature_len)
            parts, payloads = [], []
            for i, user in enumerate(users):
                try:
                    record, key = encode_row(
                        user, articles[i], clicks[i], features[i], settings.feature_len, settings.delimiter
                    )
                except ValueError as error:
                    reject = {"source": sources[i], "reason": str(error)}
                    reject.update(user_id=str(user), article_id=str(articles[i]), clicked=str(clicks[i]))
                    parts.append(rejects_part)
                    payloads.append(json.dumps(reject).encode())
                    continue
                split, shard = place(key, settings.seed, settings.eval_fraction, settings.shards)
                parts.append(shard if split == "train" else counts["train"] + shard)
                payloads.append(record)
            yield pa.RecordBatch.from_arrays(
                [pa.array(parts, pa.int32()), pa.array(payloads, pa.binary())], names=["part", "payload"]
            )

    return encode


def _writer(settings: SparkDataSettings, staging: str) -> Any:
    """The executor side of step 2: write partition `index` as its shard (or the rejects file)."""
    counts = shard_counts(settings.shards)

    def write(index: int, rows: Iterator[tuple[int, bytes]]) -> Iterator[tuple[str, int]]:
        payloads = (payload for _, payload in rows)
        filesystem, root = _filesystem(staging)
        if index == counts["train"] + counts["eval"]:
            lines = [p.decode() + "\n" for p in payloads]
            if lines:
                filesystem.create_dir(f"{root}/{REJECTS}")
                with filesystem.open_output_stream(f"{root}/{REJECTS}/part-00000.jsonl") as out:
                    out.write("".join(lines).encode())
            yield REJECTS, len(lines)
            return
        split = "train" if index < counts["train"] else "eval"
        shard = index if split == "train" else index - counts["train"]
        name = shard_file(split, shard, counts[split], settings.compression)
        if "://" not in staging:
            yield split, write_shard(Path(root) / name, payloads, settings.compression)
            return
        with tempfile.TemporaryDirectory() as scratch:  # object stores: write locally, then upload
            written = write_shard(Path(scratch) / name, payloads, settings.compression)
            with (
                open(Path(scratch) / name, "rb") as src,
                filesystem.open_output_stream(f"{root}/{name}") as out,
            ):
                shutil.copyfileobj(src, out)
        yield split, written

    return write


def _commit(staging: str, out: str) -> None:
    """Swap the finished staging directory in for `out` (local: renames; object store: copy, delete)."""
    from pyarrow import fs

    filesystem, root = _filesystem(out)
    _, stage_root = _filesystem(staging)
    if isinstance(filesystem, fs.LocalFileSystem):
        old = f"{root}.old-{uuid.uuid4().hex[:8]}"
        if os.path.exists(root):
            os.rename(root, old)
        os.rename(stage_root, root)
        shutil.rmtree(old, ignore_errors=True)
        return
    if filesystem.get_file_info(f"{root}/{SUCCESS}").type != fs.FileType.NotFound:
        filesystem.delete_file(f"{root}/{SUCCESS}")
    filesystem.delete_dir_contents(root, missing_dir_ok=True)
    selector = fs.FileSelector(stage_root, recursive=True)
    for info in filesystem.get_file_info(selector):
        if info.type == fs.FileType.File and not info.path.endswith(SUCCESS):
            fs.copy_files(info.path, root + info.path[len(stage_root) :], filesystem, filesystem)
    with filesystem.open_output_stream(f"{root}/{SUCCESS}"):
        pass
    filesystem.delete_dir(stage_root)


def _session(master: str | None) -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("tfkit-data-spark").config("spark.ui.enabled", "false")
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")  # executors import TensorFlow to encode records
    builder = builder.config("spark.executorEnv.TF_CPP_MIN_LOG_LEVEL", level)
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def run_job(settings: SparkDataSettings, spark: Any = None) -> dict[str, Any]:
    """Run the job (in `spark`, or a session on settings.master); commit the output; return the meta."""
    from pyspark.sql.types import BinaryType, IntegerType, StructField, StructType

    check_fraction(settings.eval_fraction)
    counts = shard_counts(settings.shards)
    started = time.perf_counter()
    spark = spark or _session(settings.master)
    frames = [_read(spark, source) for source in settings.inputs]
    schema = StructType([StructField("part", IntegerType()), StructField("payload", BinaryType())])
    encoded = [frame.mapInArrow(_encoder(settings), schema) for frame in frames]  # typed per source
    for more in encoded[1:]:
        encoded[0] = encoded[0].unionByName(more)
    keyed = encoded[0].rdd.map(tuple)
    total = counts["train"] + counts["eval"] + 1
    staging = f"{settings.out.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    filesystem, stage_root = _filesystem(staging)
    filesystem.create_dir(stage_root)
    try:
        written = keyed.partitionBy(total, lambda part: part).mapPartitionsWithIndex(
            _writer(settings, staging)
        )
        sizes = {"train": 0, "eval": 0, REJECTS: 0}
        for kind, n in written.collect():  # one (kind, count) pair per partition: counts, never rows
            sizes[kind] += n
        if sizes["train"] == 0 or sizes["eval"] == 0:
            raise ValueError(
                f"the split left {sizes['train']} train and {sizes['eval']} eval rows; "
                "import more rows or change --eval-fraction"
            )
        meta = {
            "schema": SCHEMA_DOC,
            "source": "spark",
            "inputs": list(settings.inputs),
            "feature_len": settings.feature_len,
            "n_train": sizes["train"],
            "n_eval": sizes["eval"],
            "rejected": sizes[REJECTS],
            "train_files": [
                shard_file("train", i, counts["train"], settings.compression) for i in range(counts["train"])
            ],
            "eval_files": [
                shard_file("eval", i, counts["eval"], settings.compression) for i in range(counts["eval"])
            ],
            "bayes_auc": None,
            "split": {"eval_fraction": settings.eval_fraction, "seed": settings.seed},
            "compression": settings.compression,
            "spark": {"master": spark.sparkContext.master, "partitions": total},
            "seconds": round(time.perf_counter() - started, 3),
        }
        with filesystem.open_output_stream(f"{stage_root}/meta.json") as out:
            out.write((json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        with filesystem.open_output_stream(f"{stage_root}/{SUCCESS}"):
            pass
        _commit(staging, settings.out)
    except BaseException:
        filesystem.delete_dir(stage_root)
        raise
    return meta


def summary(meta: dict[str, Any], out: str) -> str:
    """The counts line the job prints."""
    rejects = (
        f"; {meta['rejected']} rejected (reasons in {out}/{REJECTS}/)" if meta["rejected"] else "; 0 rejected"
    )
    return (
        f"spark: {meta['n_train']} train ({len(meta['train_files'])} shards) + {meta['n_eval']} eval "
        f"({len(meta['eval_files'])} shards) rows into {out}{rejects} in {meta['seconds']:.1f}s"
    )


def add_arguments(parser: argparse.ArgumentParser, master_default: str | None) -> None:
    """The job's options (shared by `tfkit data spark` and spark-submit)."""
    from export.settings import add_setting

    parser.add_argument("inputs", nargs="+", help=f".csv / .parquet paths or URIs, or {TABLE_PREFIX}NAME")
    add_setting(parser, "--shards", SparkDataSettings, "shards")
    add_setting(parser, "--eval-fraction", SparkDataSettings, "eval_fraction", "held-out share")
    parser.add_argument(
        "--delimiter", default="", help="features delimiter (default: any of ; , | whitespace)"
    )
    add_setting(parser, "--seed", SparkDataSettings, "seed", "split seed")
    parser.add_argument("--master", default=master_default, help="Spark master URL (default: %(default)s)")
    parser.add_argument("--compression", choices=["none", "gzip"], default="none", help="shard compression")


def settings_from(args: argparse.Namespace, out: str) -> SparkDataSettings:
    return SparkDataSettings(
        inputs=tuple(str(i) for i in args.inputs),
        out=out,
        shards=args.shards,
        eval_fraction=args.eval_fraction,
        delimiter=args.delimiter,
        seed=args.seed,
        master=args.master,
        compression=args.compression,
    )


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry: `spark-submit export/spark_data.py INPUTS... --out URI [...]`."""
    parser = argparse.ArgumentParser(prog="spark_data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory or URI")
    add_arguments(parser, master_default=None)
    args = parser.parse_args(argv)
    settings = settings_from(args, args.out)
    meta = run_job(settings)
    print(summary(meta, settings.out))
    return 0


if __name__ == "__main__":  # the kit is installed where the job runs (the image, .venv)
    raise SystemExit(main())
