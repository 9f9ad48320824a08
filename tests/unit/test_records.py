"""export/records.py, export/encode.py and split.place_rows: the TF-free record bytes and the batch path.

The oracles are the real libraries: protobuf's deterministic serialization of TensorFlow's own
`tf.train.Example`, and TensorFlow's TFRecord reader (which checks both masked CRC-32Cs of every record).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.encode import encode_columns
from export.importer import validate_row
from export.records import TFRecordFile, example_bytes, examples_bytes
from export.schema import MAX_ID
from export.split import place, place_rows, row_key

LEN = 121


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ids of every varint width the schema allows (1 to 5 bytes below 2**31), both ends included."""
    ids = rng.integers(0, MAX_ID, n) >> rng.integers(0, 31, n)
    ids[:4] = [0, 127, 128, MAX_ID - 1]
    return ids


@pytest.mark.parametrize("label", [None, 0, 1])
def test_example_bytes_are_protobufs_deterministic_serialization(label: int | None) -> None:
    from tensorflow.core.example import example_pb2

    rng = np.random.default_rng(0)
    for user, article in zip(_ids(rng, 50), _ids(rng, 50), strict=True):
        feature = rng.normal(size=LEN).astype("<f8").tobytes()
        example = example_pb2.Example()
        features = example.features.feature
        if label is not None:
            features["label"].int64_list.value.append(label)
        features["feature"].bytes_list.value.append(feature)
        features["user_id"].int64_list.value.append(int(user))
        features["article_id"].int64_list.value.append(int(article))
        expected = example.SerializeToString(deterministic=True)
        assert example_bytes(label, feature, int(user), int(article)) == expected


def test_negative_ids_take_ten_byte_varints_as_protobuf_does() -> None:
    from tensorflow.core.example import example_pb2

    raw = example_bytes(1, b"\x00" * 8, -1, -(2**63))
    example = example_pb2.Example.FromString(raw)
    assert example.features.feature["user_id"].int64_list.value[0] == -1
    assert example.features.feature["article_id"].int64_list.value[0] == -(2**63)
    assert raw == example.SerializeToString(deterministic=True)


def test_examples_bytes_equal_example_bytes_row_by_row() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    labels, users, articles = rng.integers(0, 2, n), _ids(rng, n), _ids(rng, n)
    features = rng.normal(size=(n, LEN))
    expected = [
        example_bytes(int(labels[i]), features[i].astype("<f8").tobytes(), int(users[i]), int(articles[i]))
        for i in range(n)
    ]
    assert examples_bytes(labels, features, users, articles) == expected
    users[7] = -5  # a negative id takes the row-by-row path, with the same bytes
    assert examples_bytes(labels, features, users, articles)[7] == example_bytes(
        int(labels[7]), features[7].astype("<f8").tobytes(), -5, int(articles[7])
    )


def test_a_batch_with_no_rows_encodes_to_nothing() -> None:
    empty = np.zeros(0, np.int64)
    assert examples_bytes(empty, np.zeros((0, LEN)), empty, empty) == []
    is_eval, shard = place_rows(empty, np.zeros((0, LEN)), empty, empty, 0, 0.2, 4)
    assert len(is_eval) == len(shard) == 0


def test_place_rows_equals_place_row_by_row() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    labels, users, articles = rng.integers(0, 2, n), _ids(rng, n), _ids(rng, n)
    features = rng.normal(size=(n, LEN))
    for seed, fraction, shards in ((0, 0.2, 4), (9, 0.5, 3), (1, 1e-19, 1), (3, 0.999, 5)):
        is_eval, shard = place_rows(labels, features, users, articles, seed, fraction, shards)
        for i in range(0, n, 7):
            key = row_key(int(labels[i]), features[i].tobytes(), int(users[i]), int(articles[i]))
            assert place(key, seed, fraction, shards) == ("eval" if is_eval[i] else "train", int(shard[i]))


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_tfrecord_files_are_read_by_tensorflow_with_their_checksums(tmp_path: Path, compression: str) -> None:
    import tensorflow as tf

    records = [bytes([i % 256]) * i for i in range(300)]  # lengths 0..299, the empty record included
    path = tmp_path / "shard.tfrecord"
    with TFRecordFile(path, compression) as shard:
        for record in records:
            shard.write(record)
    assert shard.count == len(records)
    kind = "GZIP" if compression == "gzip" else ""
    assert [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(path), kind)] == records
    if compression == "none":  # a flipped bit in a record fails TensorFlow's data CRC check
        data = bytearray(path.read_bytes())
        data[-6] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(tf.errors.DataLossError):
            list(tf.data.TFRecordDataset(str(path)))


def test_encode_columns_accepts_exactly_what_validate_row_accepts() -> None:
    """Typed columns take the numpy checks, untyped ones the rule; both give the rule's verdict."""
    rng = np.random.default_rng(4)
    n = 400
    users, articles, clicks = _ids(rng, n), _ids(rng, n), rng.integers(0, 2, n)
    features = rng.normal(size=(n, LEN))
    users[10], articles[11], clicks[12] = -1, MAX_ID, 2
    features[13, 5], features[14, 0] = np.nan, np.inf
    typed = encode_columns(
        users, articles, clicks, features, feature_len=LEN, delimiter="", seed=1, eval_fraction=0.2, shards=3
    )
    as_text = [";".join(map(repr, row.tolist())) for row in features]
    untyped = encode_columns(
        [str(u) for u in users],
        list(articles),
        list(clicks),
        as_text,
        feature_len=LEN,
        delimiter="",
        seed=1,
        eval_fraction=0.2,
        shards=3,
    )
    expected_rejects = []
    for i in range(n):
        try:
            validate_row(users[i], articles[i], clicks[i], features[i], LEN, "")
        except ValueError as error:
            expected_rejects.append((i, str(error)))
    assert [i for i, _ in expected_rejects] == [10, 11, 12, 13, 14]
    assert typed.rejects == expected_rejects
    assert [i for i, _ in untyped.rejects] == [10, 11, 12, 13, 14]
    assert typed.records == untyped.records and typed.rows.tolist() == untyped.rows.tolist()
    assert (typed.is_eval == untyped.is_eval).all() and (typed.shard == untyped.shard).all()
