"""`tfkit data spark`: click logs -> sharded CTR TFRecords with Apache Spark (any master; spark-submit-able).

The same rows, validation, records and placement as `tfkit data import` (export/importer.py encodes and
validates a row, export/split.py places it), at Spark's scale:

1. each input (CSV, Parquet, or `table:NAME` from the catalog) is read by Spark and validated row by row
   in the executors (`mapInArrow`); a bad row becomes a reject carrying its source and the reason;
2. rows are keyed by their part (train shards 0..N-1, eval shards N.., rejects last) and repartitioned
   by that key in Spark's own shuffle (DataFrame, no Python pickling), so each partition is one shard,
   streamed by its executor into the shard's TFRecord file (never collected);
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
import time
import uuid
from typing import Any

from export.importer import COLUMNS
from export.records import COMPRESSIONS
from export.schema import SCHEMA_DOC
from export.spark_tasks import (
    REJECTS,
    SparkDataSettings,
    empty_shard,
    encoder,
    shard_path,
    storage,
    writer,
)
from export.split import check_fraction, shard_counts, shard_file

SUCCESS = "_SUCCESS"
TABLE_PREFIX = "table:"


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


def _partition_keys(spark: Any, total: int) -> list[int]:
    """For each part k < total, a long whose Spark hash partition among `total` is k.

    `repartition(total, col)` places a row by Spark's own expression, pmod(hash(col), total) (Murmur3,
    HashPartitioning); evaluating that expression on candidate keys gives each part a partition of its
    own, so each shard is one task. Should a part find no key, it keeps its own number: the writer still
    writes every part it is given, only two shards then share a task.
    """
    from pyspark.sql import functions as F

    found: dict[int, int] = {}
    candidates = spark.range(0, 64 * total).select("id", F.expr(f"pmod(hash(id), {total})").alias("p"))
    for row in candidates.collect():
        found.setdefault(int(row.p), int(row.id))
    return [found.get(part, part) for part in range(total)]


def _commit(staging: str, out: str) -> None:
    """Swap the finished staging directory in for `out` (local: renames; object store: copy, delete)."""
    from pyarrow import fs

    filesystem, root = storage(out)
    _, stage_root = storage(staging)
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
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def run_job(settings: SparkDataSettings, spark: Any = None) -> dict[str, Any]:
    """Run the job (in `spark`, or a session on settings.master); commit the output; return the meta."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, IntegerType, StructField, StructType

    check_fraction(settings.eval_fraction)
    counts = shard_counts(settings.shards)
    started = time.perf_counter()
    spark = spark or _session(settings.master)
    frames = [_read(spark, source) for source in settings.inputs]
    schema = StructType([StructField("part", IntegerType()), StructField("payload", BinaryType())])
    encoded = [frame.mapInArrow(encoder(settings), schema) for frame in frames]  # typed per source
    for more in encoded[1:]:
        encoded[0] = encoded[0].unionByName(more)
    total = counts["train"] + counts["eval"] + 1  # train shards, eval shards, rejects
    keys = _partition_keys(spark, total)
    key = F.element_at(F.array(*[F.lit(k).cast("long") for k in keys]), F.col("part") + 1)
    by_part = encoded[0].withColumn("key", key).repartition(total, "key").select("part", "payload")
    staging = f"{settings.out.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    filesystem, stage_root = storage(staging)
    filesystem.create_dir(stage_root)
    try:
        written = by_part.mapInArrow(writer(settings, staging), "part int, count long").collect()
        done = {int(row.part): int(row["count"]) for row in written}  # counts, never rows
        sizes = {"train": 0, "eval": 0, REJECTS: done.pop(total - 1, 0)}
        for part in range(total - 1):
            split = shard_path(settings, part)[0]
            if part not in done:  # a shard no row fell into is still written, empty, as the importer does
                done[part] = empty_shard(settings, staging, part)
            sizes[split] += done[part]
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
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none", help="shard compression")


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
