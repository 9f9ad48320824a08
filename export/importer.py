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
from export.schema import FEATURE_DTYPE, MAX_ID, encode_example
from export.settings import ImportSettings
from export.shards import write_meta
from export.split import check_fraction, place, row_key, shard_counts, write_split

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


def encode(row: Row) -> tuple[bytes, bytes]:
    """(serialized record, the row key that places it: export.split.place)."""
    label, vector, user_id, article_id = row
    key = row_key(label, vector.astype(FEATURE_DTYPE).tobytes(), user_id, article_id)
    return encode_example(label, vector, user_id, article_id), key


def encode_row(
    user: Any, article: Any, clicked: Any, features: Any, feature_len: int, delimiter: str
) -> tuple[bytes, bytes]:
    """Validate and encode one row (the Spark executors' path)."""
    return encode(validate_row(user, article, clicked, features, feature_len, delimiter))


def validate_rows(path: Path, frame: Any, settings: ImportSettings) -> list[Row]:
    """Check every row of one table before anything loads TensorFlow: bad input fails fast, one message."""
    rows: list[Row] = []
    for i, (user, article, clicked, features) in enumerate(
        frame[list(COLUMNS)].itertuples(index=False, name=None)
    ):
        try:
            rows.append(
                validate_row(user, article, clicked, features, settings.feature_len, settings.delimiter)
            )
        except ValueError as error:
            where = f"row {i} (line {i + 2})" if path.suffix.lower() in (".csv", ".txt") else f"row {i}"
            raise BadInputError(f"{path}: {where}: {error}") from None
    return rows


def import_logs(settings: ImportSettings) -> dict[str, Any]:
    """Import every input file into train/eval shards under settings.out_dir; return the meta.

    Each row's split and shard come from `export.split.place` (a hash of the row and the seed), the
    placement `tfkit data spark` uses too.
    """
    check_fraction(settings.eval_fraction)
    rows: list[Row] = []
    for path in settings.inputs:
        rows.extend(validate_rows(path, read_table(path), settings))
    if len(rows) < 2:
        raise BadInputError(f"need at least 2 rows to split into train and eval, got {len(rows)}")
    check_out_dir(settings.out_dir)
    placed: dict[str, list[list[bytes]]] = {
        split: [[] for _ in range(n)] for split, n in shard_counts(settings.shards).items()
    }
    for row in rows:
        record, key = encode(row)
        split, shard = place(key, settings.seed, settings.eval_fraction, settings.shards)
        placed[split][shard].append(record)
    sizes = {split: sum(len(s) for s in shards) for split, shards in placed.items()}
    if min(sizes.values()) == 0:
        raise BadInputError(
            f"the split of {len(rows)} row(s) left {sizes['train']} train and {sizes['eval']} eval rows; "
            "import more rows or change --eval-fraction"
        )
    with publishing_dir(settings.out_dir) as staging:
        files = {split: write_split(staging, split, shards) for split, shards in placed.items()}
        meta = _meta(settings, sizes, files)
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
