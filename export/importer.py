"""`tfkit data import`: CSV or Parquet click logs -> sharded TFRecords in the CTR schema.

Columns: `user_id`, `article_id`, `clicked` (0/1) and `features`, either a list (Parquet list column, or a
JSON-style "[0.1, 0.2]" string) or a delimited string ("0.1;0.2", "0.1 0.2", "0.1,0.2"). Every problem is
reported as `<file>: row <i>: <what>` (rows counted from 0 over the data rows; CSV line = row + 2).

Every row is checked before anything is written. The shards and meta.json are then written into a hidden
sibling directory and swapped in with renames, so a reader never sees a half-written data set, even when
the import is killed; a rerun removes what a killed run left and starts over.
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
from export.schema import MAX_ID, encode_example
from export.settings import ImportSettings
from export.shards import write_meta, write_shards

COLUMNS = ("user_id", "article_id", "clicked", "features")
_SPLIT = re.compile(r"[;,\s|]+")


class BadInputError(ValueError):
    """Bad input data: the message names the file and the row."""


def read_table(path: Path) -> Any:
    """Load a CSV or Parquet file as a pandas DataFrame, checking the required columns."""
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype={"features": str}, keep_default_na=False)
        else:
            raise BadInputError(f"{path}: unsupported file type {suffix!r} (expected .csv or .parquet)")
    except BadInputError:
        raise
    except Exception as error:
        raise BadInputError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    return frame


def parse_features(value: Any, feature_len: int, delimiter: str = "") -> np.ndarray:
    """A features cell (list/array or delimited string) -> float64 vector of feature_len."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        raise ValueError("features: missing")
    if isinstance(value, str):
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


def validate_rows(path: Path, frame: Any, settings: ImportSettings) -> list[Row]:
    """Check every row of one table (no TensorFlow: bad input fails fast, with one message)."""
    rows: list[Row] = []
    for i, row in enumerate(frame[list(COLUMNS)].itertuples(index=False, name=None)):
        user, article, clicked, features = row
        try:
            rows.append(
                (
                    _integer(clicked, "clicked", 0, 2),
                    parse_features(features, settings.feature_len, settings.delimiter),
                    _integer(user, "user_id", 0, MAX_ID),
                    _integer(article, "article_id", 0, MAX_ID),
                )
            )
        except ValueError as error:
            where = f"row {i} (line {i + 2})" if path.suffix.lower() in (".csv", ".txt") else f"row {i}"
            raise BadInputError(f"{path}: {where}: {error}") from None
    return rows


def import_logs(settings: ImportSettings) -> dict[str, Any]:
    """Import every input file into train/eval shards under settings.out_dir; return the meta."""
    if not 0.0 < settings.eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {settings.eval_fraction}")
    rows: list[Row] = []
    for path in settings.inputs:
        rows.extend(validate_rows(path, read_table(path), settings))
    if len(rows) < 2:
        raise BadInputError(f"need at least 2 rows to split into train and eval, got {len(rows)}")
    check_out_dir(settings.out_dir)
    records = [encode_example(*row) for row in rows]
    order = np.random.default_rng(settings.seed).permutation(len(records))
    n_eval = max(1, round(len(records) * settings.eval_fraction))
    held_out = [records[i] for i in order[:n_eval]]
    train = [records[i] for i in order[n_eval:]]
    with publishing_dir(settings.out_dir) as staging:
        train_files = write_shards(staging, "train", train, settings.shards)
        eval_files = write_shards(staging, "eval", held_out, max(1, settings.shards // 2))
        meta = _meta(settings, train, held_out, train_files, eval_files)
        write_meta(staging, meta)
    return meta


def _meta(
    settings: ImportSettings,
    train: list[bytes],
    held_out: list[bytes],
    train_files: list[str],
    eval_files: list[str],
) -> dict[str, Any]:
    meta = {
        "source": "import",
        "inputs": [str(p) for p in settings.inputs],
        "feature_len": settings.feature_len,
        "n_train": len(train),
        "n_eval": len(held_out),
        "train_files": train_files,
        "eval_files": eval_files,
        "bayes_auc": None,
    }
    return meta


def check_out_dir(out_dir: Path) -> None:
    """The output may replace only a data set: a directory of meta.json and *.tfrecord files."""
    if out_dir.exists() and not (
        out_dir.is_dir() and all(p.name == "meta.json" or p.suffix == ".tfrecord" for p in out_dir.iterdir())
    ):
        raise BadInputError(f"{out_dir}: exists and is not a data directory (only meta.json, *.tfrecord)")


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
