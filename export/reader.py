"""The CTR `tf.data` reader: parallel interleave over shards, batch, parse, decode_raw float64 -> float32.

Records are batched per shard before parsing (vectorized `parse_example`), so validation costs a few
batch-level ops: a record whose feature has the wrong length, or that lacks a label or an id, either
stops iteration with `BadRecordError` naming the file and the record's index in it, or (with
`skip_bad=True`) is dropped and counted in `SkipCounter`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from export.schema import MAX_ID, training_feature_spec
from export.split import compression_type

BAD_RECORD_OPEN = "<<tfkit-bad-record: "
BAD_RECORD_CLOSE = ">>"


class BadRecordError(ValueError):
    """A malformed record: the message names the file, the record index and what is wrong."""


@dataclass
class SkipCounter:
    """Counts records dropped by a `skip_bad=True` reader (a tf.Variable updated inside the pipeline)."""

    variable: Any = field(default=None)

    def __post_init__(self) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_records")

    @property
    def count(self) -> int:
        return int(self.variable.numpy())


def _bad_mask(parsed: dict[str, Any], feature_len: int) -> tuple[Any, Any, Any]:
    """(bad, wrong_len, no_label) boolean vectors over a parsed batch."""
    import tensorflow as tf

    wrong_len = tf.not_equal(tf.strings.length(parsed["feature"]), feature_len * 8)
    no_label = tf.logical_not(tf.logical_or(tf.equal(parsed["label"], 0), tf.equal(parsed["label"], 1)))
    ids_ok = tf.logical_and(
        tf.logical_and(parsed["user_id"] >= 0, parsed["user_id"] < MAX_ID),
        tf.logical_and(parsed["article_id"] >= 0, parsed["article_id"] < MAX_ID),
    )
    bad = tf.logical_or(tf.logical_or(wrong_len, no_label), tf.logical_not(ids_ok))
    return bad, wrong_len, no_label


def _describe_first_bad(
    parsed: dict[str, Any], bad: Any, wrong_len: Any, no_label: Any, where: tuple[Any, Any], feature_len: int
) -> Any:
    """`<<tfkit-bad-record: FILE: record N: what>>` for the first bad record of a batch (graph ops)."""
    import tensorflow as tf

    file_name, first_index = where
    first = tf.argmax(tf.cast(bad, tf.int32), output_type=tf.int64)

    def text(value: Any) -> Any:
        return tf.strings.as_string(value)

    def length_reason() -> Any:
        n_bytes = text(tf.strings.length(parsed["feature"][first]))
        return tf.strings.join(
            ["feature has ", n_bytes, f" bytes, expected {feature_len * 8} (float64 x {feature_len})"]
        )

    def label_reason() -> Any:
        return tf.strings.join(["label missing or not 0/1 (got ", text(parsed["label"][first]), ")"])

    def id_reason() -> Any:
        ids = [text(parsed["user_id"][first]), ", ", text(parsed["article_id"][first])]
        return tf.strings.join(["user_id/article_id missing or outside [0, 2**31) (", *ids, ")"])

    reason = tf.case([(wrong_len[first], length_reason), (no_label[first], label_reason)], default=id_reason)
    record = text(first_index + first)
    return tf.strings.join([BAD_RECORD_OPEN, file_name, ": record ", record, ": ", reason, BAD_RECORD_CLOSE])


def ctr_dataset(
    files: Sequence[Path],
    batch_size: int,
    feature_len: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    skip_bad: bool = False,
    counter: SkipCounter | None = None,
) -> Any:
    """Dataset of (features, label float32 [B]).

    features: {"feature": float32 [B, L], "user_id": int64 [B], "article_id": int64 [B]}.
    """
    import tensorflow as tf

    if not files:
        raise ValueError("no input files")
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"missing TFRecord shard(s): {', '.join(missing)}")
    if skip_bad and counter is None:
        raise ValueError("skip_bad=True needs a SkipCounter")
    names = tf.constant([str(f) for f in files])
    compressions = tf.constant([compression_type(f) for f in files])

    def per_file(file_index: Any) -> Any:
        records = tf.data.TFRecordDataset(names[file_index], compression_type=compressions[file_index])
        batches = records.batch(batch_size).enumerate()
        return batches.map(lambda k, raw: (file_index, k, raw))

    def parse(file_index: Any, batch_index: Any, raw: Any) -> Any:
        parsed = tf.io.parse_example(raw, training_feature_spec())
        bad, wrong_len, no_label = _bad_mask(parsed, feature_len)
        if skip_bad:
            assert counter is not None
            counter.variable.assign_add(tf.reduce_sum(tf.cast(bad, tf.int64)))
            keep = tf.logical_not(bad)
            parsed = {k: tf.boolean_mask(v, keep) for k, v in parsed.items()}
        else:
            any_bad = tf.reduce_any(bad)
            where = (names[file_index], batch_index * batch_size)
            message = tf.cond(
                any_bad,
                lambda: _describe_first_bad(parsed, bad, wrong_len, no_label, where, feature_len),
                lambda: tf.constant(""),
            )
            check = tf.debugging.Assert(tf.logical_not(any_bad), [message], summarize=1)
            with tf.control_dependencies([check]):
                parsed = {k: tf.identity(v) for k, v in parsed.items()}
        vectors = tf.io.decode_raw(parsed["feature"], tf.float64)
        features = {
            "feature": tf.reshape(tf.cast(vectors, tf.float32), [-1, feature_len]),
            "user_id": parsed["user_id"],
            "article_id": parsed["article_id"],
        }
        return features, tf.cast(parsed["label"], tf.float32)

    ds = tf.data.Dataset.range(len(files))
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(
        per_file, cycle_length=len(files), num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle
    )
    if shuffle:
        ds = ds.shuffle(64, seed=seed)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    return ds.prefetch(tf.data.AUTOTUNE)


_TAGGED = re.compile(re.escape(BAD_RECORD_OPEN) + r"(.*?)" + re.escape(BAD_RECORD_CLOSE), re.DOTALL)


def bad_record_message(error: Exception) -> str | None:
    """The readable message of a bad-record assertion inside a TF error, or None if it is not one."""
    match = _TAGGED.search(str(error))
    return match.group(1).replace('\\"', '"').strip() if match else None


def find_corrupt_file(files: Sequence[Path]) -> str | None:
    """`<file>: <TF message>` for the first shard that does not read cleanly as TFRecords, else None."""
    import tensorflow as tf

    for file in files:
        try:
            for _ in tf.data.TFRecordDataset(str(file), compression_type(file)).batch(4096):
                pass
        except tf.errors.DataLossError as error:
            return f"{file}: {error.message.split('}}')[-1].split(' [Op:')[0].strip()}"
    return None


def iterate(dataset: Any, files: Sequence[Path] = ()) -> Iterator[Any]:
    """Iterate a reader dataset; a bad record or a corrupt shard becomes `BadRecordError` naming the file."""
    import tensorflow as tf

    iterator = iter(dataset)
    while True:
        try:
            element = next(iterator)
        except StopIteration:
            return
        except tf.errors.InvalidArgumentError as error:
            message = bad_record_message(error)
            if message is None:
                raise
            raise BadRecordError(message) from None
        except tf.errors.DataLossError as error:
            where = find_corrupt_file(files) or f"corrupt TFRecord data: {error.message}"
            raise BadRecordError(where) from None
        yield element
