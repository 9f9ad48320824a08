"""`tfkit data import`: CSV or Parquet click logs -> sharded TFRecords in the CTR schema.

Columns: `user_id`, `article_id`, `clicked` (0/1) and `features`, either a list (Parquet list column, or a
JSON-style "[0.1, 0.2]" string) or a delimited string ("0.1;0.2", "0.1 0.2", "0.1,0.2"). Every problem is
reported as `<file>: row <i>: <what>` (rows counted from 0 over the data rows; CSV line = row + 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

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
    if isinstance(value, str):
        text = value.strip().strip("[]").strip()
        parts = [p for p in (text.split(delimiter) if delimiter else _SPLIT.split(text)) if p.strip()]
        try:
            vector = np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError as error:
            raise ValueError(f"features: {error}") from None
    elif value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError("features: missing")
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


def encode_row(
    user: Any, article: Any, clicked: Any, features: Any, feature_len: int, delimiter: str
) -> tuple[bytes, bytes]:
    """Validate one row; return (serialized record, the row key that places it). ValueError says why not."""
    label = _integer(clicked, "clicked", 0, 2)
    vector = parse_features(features, feature_len, delimiter)
    user_id = _integer(user, "user_id", 0, MAX_ID)
    article_id = _integer(article, "article_id", 0, MAX_ID)
    key = row_key(label, vector.astype(FEATURE_DTYPE).tobytes(), user_id, article_id)
    return encode_example(label, vector, user_id, article_id), key


def encode_rows(path: Path, frame: Any, settings: ImportSettings) -> list[tuple[bytes, bytes]]:
    """Validate and serialize every row of one table: (record, row key) per row."""
    out: list[tuple[bytes, bytes]] = []
    for i, row in enumerate(frame[list(COLUMNS)].itertuples(index=False, name=None)):
        user, article, clicked, features = row
        try:
            out.append(encode_row(user, article, clicked, features, settings.feature_len, settings.delimiter))
        except ValueError as error:
            where = f"row {i} (line {i + 2})" if path.suffix.lower() in (".csv", ".txt") else f"row {i}"
            raise BadInputError(f"{path}: {where}: {error}") from None
    return out


def import_logs(settings: ImportSettings) -> dict[str, Any]:
    """Import every input file into train/eval shards under settings.out_dir; return the meta.

    Each row's split and shard come from `export.split.place` (a hash of the row and the seed), the
    placement `tfkit data spark` uses too.
    """
    check_fraction(settings.eval_fraction)
    counts = shard_counts(settings.shards)
    placed: dict[str, list[list[bytes]]] = {split: [[] for _ in range(n)] for split, n in counts.items()}
    total = 0
    for path in settings.inputs:
        for record, key in encode_rows(path, read_table(path), settings):
            split, shard = place(key, settings.seed, settings.eval_fraction, settings.shards)
            placed[split][shard].append(record)
            total += 1
    sizes = {split: sum(len(s) for s in shards) for split, shards in placed.items()}
    if min(sizes.values()) == 0:
        raise BadInputError(
            f"the split of {total} row(s) left {sizes['train']} train and {sizes['eval']} eval rows; "
            "import more rows or change --eval-fraction"
        )
    files = {split: write_split(settings.out_dir, split, shards) for split, shards in placed.items()}
    meta = {
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
    write_meta(settings.out_dir, meta)
    return meta
