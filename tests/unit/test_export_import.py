"""`tfkit data import`: CSV (list / delimited features) and Parquet into the CTR schema, bad rows named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from export.importer import BadInputError, import_logs
from export.reader import ctr_dataset, iterate
from export.settings import ImportSettings
from export.shards import split_files

LEN = 121


def _frame(n: int, style: str) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, LEN))
    if style == "list":
        features: list[object] = [list(v) for v in vectors]
    elif style == "json":
        features = [json.dumps(list(v)) for v in vectors]
    else:
        features = [";".join(repr(float(x)) for x in v) for v in vectors]
    return pd.DataFrame(
        {
            "user_id": np.arange(n) + 10,
            "article_id": np.arange(n) + 1000,
            "clicked": np.arange(n) % 2,
            "features": features,
        }
    )


def _read_all(out: Path) -> tuple[np.ndarray, np.ndarray]:
    users, feats = [], []
    for split in ("train", "eval"):
        for features, _ in iterate(ctr_dataset(split_files(out, split), 64, LEN)):
            users.append(features["user_id"].numpy())
            feats.append(features["feature"].numpy())
    order = np.argsort(np.concatenate(users))
    return np.concatenate(users)[order], np.concatenate(feats)[order]


@pytest.mark.parametrize("style", ["delimited", "json"])
def test_csv_import_round_trips(tmp_path: Path, style: str) -> None:
    frame = _frame(20, style)
    path = tmp_path / "clicks.csv"
    frame.to_csv(path, index=False)
    meta = import_logs(ImportSettings(inputs=(path,), out_dir=tmp_path / "out", shards=2, eval_fraction=0.25))
    assert meta["n_train"] + meta["n_eval"] == 20 and meta["n_eval"] > 0  # hash split (export/split.py)
    users, feats = _read_all(tmp_path / "out")
    np.testing.assert_array_equal(users, np.arange(20) + 10)
    expected = np.stack([np.random.default_rng(0).normal(size=(20, LEN))]).reshape(20, LEN)
    np.testing.assert_allclose(feats, expected.astype(np.float32))


def test_parquet_list_column_import(tmp_path: Path) -> None:
    path = tmp_path / "clicks.parquet"
    _frame(10, "list").to_parquet(path)
    meta = import_logs(ImportSettings(inputs=(path,), out_dir=tmp_path / "out", shards=1, eval_fraction=0.2))
    assert meta["n_train"] + meta["n_eval"] == 10
    users, _ = _read_all(tmp_path / "out")
    np.testing.assert_array_equal(users, np.arange(10) + 10)


def test_csv_bad_feature_count_names_file_and_row(tmp_path: Path) -> None:
    frame = _frame(5, "delimited")
    frame.loc[3, "features"] = "1;2;3"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        BadInputError, match=r"bad\.csv: row 3 \(line 5\): features: expected 121 values, got 3"
    ):
        import_logs(ImportSettings(inputs=(path,), out_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_parquet_bad_label_and_missing_column(tmp_path: Path) -> None:
    frame = _frame(4, "list")
    frame.loc[2, "clicked"] = 3
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    with pytest.raises(BadInputError, match=r"bad\.parquet: row 2: clicked: 3 outside \[0, 2\)"):
        import_logs(ImportSettings(inputs=(path,), out_dir=tmp_path / "out"))
    no_col = tmp_path / "nocol.parquet"
    frame.drop(columns=["article_id"]).to_parquet(no_col)
    with pytest.raises(BadInputError, match=r"nocol\.parquet: missing column\(s\) article_id"):
        import_logs(ImportSettings(inputs=(no_col,), out_dir=tmp_path / "out"))


def test_negative_id_rejected(tmp_path: Path) -> None:
    frame = _frame(3, "delimited")
    frame.loc[0, "user_id"] = -5
    path = tmp_path / "neg.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(BadInputError, match=r"neg\.csv: row 0 \(line 2\): user_id: -5 outside"):
        import_logs(ImportSettings(inputs=(path,), out_dir=tmp_path / "out"))
