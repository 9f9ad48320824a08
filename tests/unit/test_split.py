"""export/split.py: a row's split and shard are a function of the row and the seed (import, spark)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from export.importer import import_logs
from export.settings import ImportSettings
from export.split import eval_shards, place, row_key, shard_counts

LEN = 121


def _keys(n: int) -> list[bytes]:
    rng = np.random.default_rng(3)
    return [row_key(i % 2, rng.normal(size=LEN).tobytes(), i, 1000 + i) for i in range(n)]


def test_place_is_a_pure_function_of_row_and_seed() -> None:
    keys = _keys(2000)
    first = [place(k, 5, 0.2, 4) for k in keys]
    assert first == [place(k, 5, 0.2, 4) for k in keys]
    assert [place(k, 5, 0.2, 4) for k in reversed(keys)] == list(reversed(first))
    assert first != [place(k, 6, 0.2, 4) for k in keys]  # the seed changes the split


def test_place_respects_fraction_and_shard_counts() -> None:
    placed = [place(k, 0, 0.25, 6) for k in _keys(4000)]
    share = sum(split == "eval" for split, _ in placed) / len(placed)
    assert 0.22 < share < 0.28
    counts = Counter(placed)
    assert {shard for (split, shard) in counts if split == "train"} == set(range(6))
    assert {shard for (split, shard) in counts if split == "eval"} == set(range(eval_shards(6)))
    assert shard_counts(1) == {"train": 1, "eval": 1}


def _records(out: Path) -> dict[str, Counter[bytes]]:
    import tensorflow as tf

    found: dict[str, Counter[bytes]] = {}
    for split in ("train", "eval"):
        files = sorted(str(f) for f in out.glob(f"{split}-*.tfrecord"))
        found[split] = Counter(bytes(r.numpy()) for r in tf.data.TFRecordDataset(files))
    return found


def test_import_split_does_not_depend_on_row_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": np.arange(200),
            "article_id": np.arange(200) + 7,
            "clicked": np.arange(200) % 2,
            "features": [";".join(repr(float(x)) for x in rng.normal(size=LEN)) for _ in range(200)],
        }
    )
    forward, backward = tmp_path / "forward.csv", tmp_path / "backward.csv"
    frame.to_csv(forward, index=False)
    frame.iloc[::-1].to_csv(backward, index=False)
    a = import_logs(ImportSettings(inputs=(forward,), out_dir=tmp_path / "a", shards=3, seed=9))
    b = import_logs(ImportSettings(inputs=(backward,), out_dir=tmp_path / "b", shards=3, seed=9))
    assert (a["n_train"], a["n_eval"]) == (b["n_train"], b["n_eval"])
    assert a["n_train"] + a["n_eval"] == 200 and a["n_eval"] > 0
    assert _records(tmp_path / "a") == _records(tmp_path / "b")


def test_spark_encoder_on_arrow_batches_places_like_the_importer() -> None:
    """The executor function of `tfkit data spark` (no Spark needed): list and string features, rejects."""
    import json

    import pyarrow as pa

    from export.schema import encode_example
    from export.spark_tasks import SparkDataSettings, encoder
    from export.split import row_key

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, LEN))
    settings = SparkDataSettings(inputs=(), out="unused", shards=3, seed=2)
    as_list = pa.array([list(v) for v in vectors[:3]] + [[1.0, 2.0]], pa.list_(pa.float64()))
    as_text = pa.array([";".join(repr(float(x)) for x in v) for v in vectors[3:]] + ["1;2"])
    batches = [
        pa.RecordBatch.from_pydict(
            {
                "user_id": pa.array(users),
                "article_id": pa.array([5, 6, 7, 8]),
                "clicked": pa.array(["1", "0", "1", "1"] if text else [1, 0, 1, 1]),
                "features": features,
                "_source": pa.array(["f"] * 4),
            }
        )
        for users, features, text in (([1, 2, 3, 4], as_list, False), (["4", "5", "6", "7"], as_text, True))
    ]
    out = list(encoder(settings)(iter(batches)))
    parts = [p for b in out for p in b.column("part").to_pylist()]
    payloads = [p for b in out for p in b.column("payload").to_pylist()]
    rejects = [
        json.loads(p) for part, p in zip(parts, payloads, strict=True) if part == 4
    ]  # 3 train + 1 eval shards, then rejects
    assert [r["reason"] for r in rejects] == [f"features: expected {LEN} values, got 2"] * 2
    good = [(part, payload) for part, payload in zip(parts, payloads, strict=True) if part != 4]
    assert len(good) == 6
    for i, (part, payload) in enumerate(good):
        label, user, article = [1, 0, 1][i % 3], i + 1, 5 + i % 3
        record, key = (
            encode_example(label, vectors[i], user, article),
            row_key(label, vectors[i].tobytes(), user, article),
        )
        split, shard = place(key, 2, 0.2, 3)
        assert payload == record and part == (shard if split == "train" else 3 + shard)
