"""CTR schema round trip, the synthetic generator and the tf.data reader's bad-record handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.reader import BadRecordError, SkipCounter, ctr_dataset, iterate
from export.schema import FEATURE_LEN, decode_example, encode_example
from export.settings import GenerateSettings
from export.shards import read_meta, split_files, write_shards
from export.synthetic import generate


def _vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=FEATURE_LEN)


def _collect(dataset: object) -> tuple[dict[str, np.ndarray], np.ndarray]:
    feats: dict[str, list[np.ndarray]] = {"feature": [], "user_id": [], "article_id": []}
    labels = []
    for features, label in iterate(dataset):
        for key in feats:
            feats[key].append(features[key].numpy())
        labels.append(label.numpy())
    return {k: np.concatenate(v) for k, v in feats.items()}, np.concatenate(labels)


def test_schema_round_trip_is_exact() -> None:
    from tensorflow.core.example import example_pb2

    vector = _vector(0)
    raw = encode_example(1, vector, 2**31 - 1, 0)
    example = example_pb2.Example.FromString(raw)
    feats = example.features.feature
    assert sorted(feats.keys()) == ["article_id", "feature", "label", "user_id"]
    assert list(feats["label"].int64_list.value) == [1]
    assert len(feats["feature"].bytes_list.value[0]) == FEATURE_LEN * 8
    assert feats["feature"].bytes_list.value[0] == vector.astype("<f8").tobytes()
    back = decode_example(raw)
    assert back["label"] == 1 and back["user_id"] == 2**31 - 1 and back["article_id"] == 0
    np.testing.assert_array_equal(back["feature"], vector)


def test_reader_decodes_float64_to_float32_in_file_order(tmp_path: Path) -> None:
    vectors = [_vector(i) for i in range(10)]
    records = [encode_example(i % 2, v, 100 + i, 200 + i) for i, v in enumerate(vectors)]
    files = write_shards(tmp_path, "train", records, 1)
    features, labels = _collect(ctr_dataset([tmp_path / files[0]], 4, FEATURE_LEN))
    assert features["feature"].dtype == np.float32 and features["feature"].shape == (10, FEATURE_LEN)
    np.testing.assert_allclose(features["feature"], np.stack(vectors).astype(np.float32))
    np.testing.assert_array_equal(features["user_id"], np.arange(100, 110))
    np.testing.assert_array_equal(labels, [i % 2 for i in range(10)])


def _bad_shards(tmp_path: Path) -> list[Path]:
    good = [encode_example(0, _vector(i), 1, 2) for i in range(7)]
    short = encode_example(1, _vector(99)[:120], 1, 2)
    no_label = encode_example(None, _vector(98), 1, 2)
    write_shards(tmp_path, "train", [*good[:3], short, *good[3:5]], 1)
    (tmp_path / "train-00000-of-00001.tfrecord").rename(tmp_path / "a.tfrecord")
    write_shards(tmp_path, "train", [*good[5:], no_label], 1)
    (tmp_path / "train-00000-of-00001.tfrecord").rename(tmp_path / "b.tfrecord")
    return [tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"]


def test_wrong_feature_length_names_file_and_index(tmp_path: Path) -> None:
    files = _bad_shards(tmp_path)
    with pytest.raises(BadRecordError, match=r"a\.tfrecord: record 3: feature has 960 bytes, expected 968"):
        _collect(ctr_dataset(files[:1], 2, FEATURE_LEN))


def test_missing_label_names_file_and_index(tmp_path: Path) -> None:
    files = _bad_shards(tmp_path)
    with pytest.raises(BadRecordError, match=r"b\.tfrecord: record 2: label missing"):
        _collect(ctr_dataset(files[1:], 2, FEATURE_LEN))


def test_missing_id_names_file_and_index(tmp_path: Path) -> None:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(encode_example(1, _vector(0), 5, 6))
    del example.features.feature["user_id"]
    records = [encode_example(0, _vector(1), 5, 6), example.SerializeToString()]
    files = write_shards(tmp_path, "train", records, 1)
    with pytest.raises(
        BadRecordError, match=r"record 1: user_id/article_id missing or outside \[0, 2\*\*31\) \(-1, 6\)"
    ):
        _collect(ctr_dataset([tmp_path / files[0]], 8, FEATURE_LEN))


def test_skip_mode_drops_and_counts_bad_records(tmp_path: Path) -> None:
    files = _bad_shards(tmp_path)
    counter = SkipCounter()
    features, labels = _collect(ctr_dataset(files, 4, FEATURE_LEN, skip_bad=True, counter=counter))
    assert counter.count == 2
    assert labels.size == 7 and features["feature"].shape == (7, FEATURE_LEN)


def test_generator_writes_shards_and_bayes_auc(tmp_path: Path) -> None:
    settings = GenerateSettings(out_dir=tmp_path, n_train=2000, n_eval=1000, shards=3, seed=3)
    meta = generate(settings)
    assert read_meta(tmp_path)["bayes_auc"] == meta["bayes_auc"]
    assert 0.7 < meta["bayes_auc"] < 0.95
    assert [f.name for f in split_files(tmp_path, "train")] == [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)
    ]
    features, labels = _collect(ctr_dataset(split_files(tmp_path, "eval"), 256, FEATURE_LEN))
    assert labels.size == 1000 and set(np.unique(labels)) == {0.0, 1.0}
    assert np.all(features["user_id"] < 2**31) and np.all(features["article_id"] >= 0)
    again = GenerateSettings(out_dir=tmp_path / "again", n_train=2000, n_eval=1000, shards=3, seed=3)
    assert generate(again)["bayes_auc"] == meta["bayes_auc"]


def test_truncated_shard_is_named(tmp_path: Path) -> None:
    files = write_shards(tmp_path, "train", [encode_example(0, _vector(i), 1, 2) for i in range(20)], 2)
    first = tmp_path / files[0]
    first.write_bytes(first.read_bytes()[:-100])
    paths = [tmp_path / f for f in files]
    with pytest.raises(BadRecordError, match=rf"{first}: truncated record at \d+"):
        _collect_files(paths)


def _collect_files(paths: list[Path]) -> None:
    for _ in iterate(ctr_dataset(paths, 4, FEATURE_LEN), paths):
        pass
