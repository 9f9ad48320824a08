"""`tfkit data import`: CSV or Parquet click logs -> sharded TFRecords in the CTR schema.

Columns: `user_id`, `article_id`, `clicked` (0/1) and `features`, either a list (Parquet list column, or a
JSON-style "[0.1, 0.2]" string) or a delimited string ("0.1;0.2", "0.1 0.2", "0.1,0.2"). Every problem is
reported as `<file>: row <i>: <what>` (rows counted from 0 over the data rows; CSV line = row + 2).

Files are read, checked and written a batch at a time (memory stays flat with input size), into a hidden
sibling directory that is swapped in with renames only when every row passed: a reader never sees a
half-written data set, even when the import is killed or a bad row stops it; a rerun removes what a
killed run left and starts over.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from export.publish import staging_dir
from export.schema import MAX_ID
from export.settings import ImportSettings
from export.shards import write_meta
from export.split import check_fraction, shard_counts, shard_file

COLUMNS = ("user_id", "article_id", "clicked", "features")
_SPLIT = re.compile(r"[;,\s|]+")


class BadInputError(ValueError):
    """Bad input data: the message names the file and the row."""


BATCH_ROWS = 65_536  # rows read, checked, encoded and written at a time: memory stays flat with input size


def _check_columns(path: Path, found: list[str]) -> None:
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        raise BadInputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, found))}"
        )


def _opened(path: Path) -> Iterator[Any]:
    """The batches of one file, its columns checked first: Arrow record batches of a Parquet file, pandas
    frames of a CSV file (features kept as text)."""
    import pandas as pd
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        source = pq.ParquetFile(path)
        _check_columns(path, source.schema_arrow.names)
        groups = (source.read_row_group(i, columns=list(COLUMNS)) for i in range(source.num_row_groups))
        return (batch for group in groups for batch in group.to_batches(BATCH_ROWS))  # iter_batches held ~all
    if suffix in (".csv", ".txt"):
        _check_columns(path, list(pd.read_csv(path, nrows=0).columns))
        options: dict[str, Any] = {"dtype": {"features": str}, "keep_default_na": False}
        return iter(pd.read_csv(path, chunksize=BATCH_ROWS, **options))
    raise BadInputError(f"{path}: unsupported file type {suffix!r} (expected .csv or .parquet)")


def read_batches(path: Path) -> Iterator[Any]:
    """The rows of a CSV or Parquet file, BATCH_ROWS at a time (`batch[column]` is each column); a file
    that can't be read or lacks a column is a BadInputError naming it."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    try:
        batches = _opened(path)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            yield batch
    except BadInputError:
        raise
    except Exception as error:
        raise BadInputError(f"{path}: cannot read ({type(error).__name__}: {error})") from None


def parse_features(value: Any, feature_len: int, delimiter: str = "") -> np.ndarray:
    """A features cell (list/array or delimited string) -> float64 vector of feature_len."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError("features: missing")
    if isinstance(value, str):  # never str() an array: numpy's printer costs ~1 ms a row
        if not value.strip():
            raise ValueError("features: missing")
        text = value.strip().strip("[]").strip()
        parts = [p for p in (text.split(delimiter) if delimiter else _SPLIT.split(text)) if p.strip()]
        try:
            vector = np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError as error:
            raise ValueError(f"features: {error}") from None
    else:
        try:
            vector = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(f"features: {error}") from None
    if vector.size != feature_len:
        raise ValueError(f"features: expected {feature_len} values, got {vector.size}")
    if not np.all(np.isfinite(vector)):
        raise ValueError("features: non-finite value")
    return vector


def _integer(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number ({value!r})") from None
    if not np.isfinite(number) or number != int(number):
        raise ValueError(f"{name}: not an integer ({value!r})")
    if not low <= int(number) < high:
        raise ValueError(f"{name}: {int(number)} outside [{low}, {high})")
    return int(number)


Row = tuple[int, np.ndarray, int, int]  # clicked, features, user_id, article_id


def validate_row(
    user: Any, article: Any, clicked: Any, features: Any, feature_len: int, delimiter: str
) -> Row:
    """Check one row (pure numpy, no TensorFlow); ValueError says what is wrong."""
    return (
        _integer(clicked, "clicked", 0, 2),
        parse_features(features, feature_len, delimiter),
        _integer(user, "user_id", 0, MAX_ID),
        _integer(article, "article_id", 0, MAX_ID),
    )


def import_logs(settings: ImportSettings) -> dict[str, Any]:
    """Import every input file into train/eval shards under settings.out_dir; return the meta.

    Batch by batch, rows are validated, encoded and placed (export/encode.py, the path `tfkit data spark`
    runs too: each row's split and shard come from a hash of the row and the seed) and written into the
    hidden staging directory; the first bad row stops the import with its file and row, and the staging
    directory is removed. Only a complete data set replaces settings.out_dir.
    """
    from export.encode import encode_columns
    from export.records import TFRecordFile

    check_fraction(settings.eval_fraction)
    counts = shard_counts(settings.shards)
    names = {split: [shard_file(split, i, n) for i in range(n)] for split, n in counts.items()}
    with publishing_dir(settings.out_dir) as staging, contextlib.ExitStack() as files:
        shards = {
            split: [files.enter_context(TFRecordFile(staging / f)) for f in fs] for split, fs in names.items()
        }
        for path in settings.inputs:
            first = 0  # the batch's first row in the file
            for batch in read_batches(path):
                done = encode_columns(
                    *(batch[name] for name in COLUMNS),
                    feature_len=settings.feature_len,
                    delimiter=settings.delimiter,
                    seed=settings.seed,
                    eval_fraction=settings.eval_fraction,
                    shards=settings.shards,
                )
                if done.rejects:
                    i = first + done.rejects[0][0]
                    where = (
                        f"row {i} (line {i + 2})" if path.suffix.lower() in (".csv", ".txt") else f"row {i}"
                    )
                    raise BadInputError(f"{path}: {where}: {done.rejects[0][1]}")
                splits = ["eval" if e else "train" for e in done.is_eval.tolist()]
                for record, split, shard in zip(done.records, splits, done.shard.tolist(), strict=True):
                    shards[split][shard].write(record)
                first += len(batch)
        sizes = {split: sum(f.count for f in fs) for split, fs in shards.items()}
        total = sum(sizes.values())
        if total < 2:
            raise BadInputError(f"need at least 2 rows to split into train and eval, got {total}")
        if min(sizes.values()) == 0:
            raise BadInputError(
                f"the split of {total} row(s) left {sizes['train']} train and {sizes['eval']} eval rows; "
                "import more rows or change --eval-fraction"
            )
        meta = _meta(settings, sizes, names)
        write_meta(staging, meta)
    return meta


def _meta(settings: ImportSettings, sizes: dict[str, int], files: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "source": "import",
        "inputs": [str(p) for p in settings.inputs],
        "feature_len": settings.feature_len,
        "n_train": sizes["train"],
        "n_eval": sizes["eval"],
        "train_files": files["train"],
        "eval_files": files["eval"],
        "bayes_auc": None,
        "split": {"eval_fraction": settings.eval_fraction, "seed": settings.seed},
    }


def _data_set_entry(path: Path) -> bool:
    """What `tfkit data import/generate/spark` write into a data directory."""
    return path.name in ("meta.json", "_SUCCESS", "rejects") or path.name.endswith(
        (".tfrecord", ".tfrecord.gz")
    )


def check_out_dir(out_dir: Path) -> None:
    """The output may replace only a data set (meta.json, _SUCCESS, rejects/, *.tfrecord[.gz])."""
    if out_dir.exists() and not (out_dir.is_dir() and all(_data_set_entry(p) for p in out_dir.iterdir())):
        raise BadInputError(
            f"{out_dir}: exists and is not a data directory "
            "(only meta.json, _SUCCESS, rejects/, *.tfrecord[.gz])"
        )


@contextlib.contextmanager
def publishing_dir(out_dir: Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of `out_dir` to fill; on success it replaces `out_dir` by renames.

    Refuses to replace a directory holding anything but a data set (meta.json and *.tfrecord)."""
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir.parent, f".{out_dir.name}.import-")
    try:
        content = staging / "data"
        content.mkdir()
        yield content
        if out_dir.exists():
            os.rename(out_dir, staging / "old")
        os.rename(content, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
