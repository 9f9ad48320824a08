"""Click-log columns -> validated, encoded and placed CTR records, a batch at a time.

The one encoding path of `tfkit data import` (a whole table) and of the Spark executors of
`tfkit data spark` (one Arrow batch). A batch goes through numpy:

1. rows whose columns are already typed (integer ids and label, a float64 feature matrix, as Parquet
   gives them) and pass the range and finiteness checks are accepted at once;
2. every other row goes through `export.importer.validate_row`, the rule of what a valid row is (the fast
   checks only accept rows the rule accepts), which parses strings and says what is wrong;
3. the accepted rows are encoded (`export.records.examples_bytes`) and placed (`export.split.place_rows`).

Per row this costs ~3 us where validating, encoding and placing row by row cost ~30 us.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from export.importer import validate_row
from export.records import examples_bytes
from export.schema import FEATURE_DTYPE, MAX_ID
from export.split import place_rows


@dataclass(frozen=True)
class Encoded:
    """A batch's outcome: records of the accepted rows in input order, where they go, and the rejects."""

    rows: np.ndarray  # input row index of each record
    records: list[bytes]
    is_eval: np.ndarray  # bool per record
    shard: np.ndarray  # shard index per record, within its split
    rejects: list[tuple[int, str]]  # (input row index, reason)


def _values(column: Any) -> Any:
    """A column as numpy when it is typed without nulls (Arrow integer columns, pandas), else a list."""
    if hasattr(column, "null_count"):  # Arrow
        import pyarrow as pa

        if pa.types.is_integer(column.type) and column.null_count == 0:
            return column.to_numpy()
        return column.to_pylist()
    values = column.to_numpy() if hasattr(column, "to_numpy") else column  # pandas
    if isinstance(values, np.ndarray):  # other dtypes as Python values, as the rule reports them
        return values if values.dtype.kind in "iu" else values.tolist()
    return list(values)


def _integers(values: Any, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, rows accepted at once) of an id or label column; no row for untyped columns."""
    if not (isinstance(values, np.ndarray) and values.dtype.kind in "iu" and values.ndim == 1):
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    return values.astype(np.int64), (values >= low) & (values < high)


def _features(column: Any, feature_len: int) -> Any:
    """The features column as an n x feature_len float64 matrix when every cell is a full-length float
    list (Arrow list columns: a zero-copy reshape; pandas cells of arrays: stacked), else the cells."""
    if hasattr(column, "null_count"):  # Arrow
        import pyarrow as pa

        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            lengths = column.value_lengths().to_numpy(zero_copy_only=False)
            if (
                column.null_count == 0
                and len(column)
                and (lengths == feature_len).all()
                and not column.offset
            ):
                flat = column.flatten().to_numpy(zero_copy_only=False)
                if flat.dtype.kind == "f":
                    return flat.astype(FEATURE_DTYPE, copy=False).reshape(len(column), feature_len)
        return column.to_pylist()
    cells = list(column)
    if cells and all(isinstance(c, np.ndarray) and c.shape == (feature_len,) for c in cells):
        matrix = np.stack(cells)
        if matrix.dtype.kind == "f":
            return matrix.astype(FEATURE_DTYPE, copy=False)
    return cells


def _matrix(features: Any, feature_len: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n x feature_len float64 matrix, rows accepted at once): the finite rows of a matrix column."""
    if isinstance(features, np.ndarray) and features.shape == (n, feature_len):
        return features.copy(), np.isfinite(features).all(axis=1)
    return np.zeros((n, feature_len), FEATURE_DTYPE), np.zeros(n, bool)


def encode_columns(
    users: Any,
    articles: Any,
    clicks: Any,
    features: Any,
    *,
    feature_len: int,
    delimiter: str,
    seed: int,
    eval_fraction: float,
    shards: int,
) -> Encoded:
    """Validate, encode and place one batch of click-log rows: columns of equal length, each an Arrow
    array, a pandas Series, a numpy array or a list."""
    users, articles, clicks = _values(users), _values(articles), _values(clicks)
    features = _features(features, feature_len)
    n = len(users)
    user, user_ok = _integers(users, 0, MAX_ID)
    article, article_ok = _integers(articles, 0, MAX_ID)
    label, label_ok = _integers(clicks, 0, 2)
    matrix, matrix_ok = _matrix(features, feature_len, n)
    accepted = user_ok & article_ok & label_ok & matrix_ok
    rejects: list[tuple[int, str]] = []
    for i in np.flatnonzero(~accepted).tolist():  # the rule decides, and says why
        try:
            label[i], matrix[i], user[i], article[i] = validate_row(
                users[i], articles[i], clicks[i], features[i], feature_len, delimiter
            )
            accepted[i] = True
        except ValueError as error:
            rejects.append((i, str(error)))
    rows = np.flatnonzero(accepted)
    label, matrix, user, article = label[rows], matrix[rows], user[rows], article[rows]
    is_eval, shard = place_rows(label, matrix, user, article, seed, eval_fraction, shards)
    return Encoded(rows, examples_bytes(label, matrix, user, article), is_eval, shard, rejects)
