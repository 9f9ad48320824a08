"""Tiny SavedModels for the core tests, built with TF in the test session (never committed).

`build_half_plus(path, offset)` writes a half_plus_two-like model (y = 0.5 * x + offset) with:
- `serving_default`: x float32 [None] -> y float32 [None]
- `classify_x_to_y`: inputs string [None] (tf.Example, float feature x) -> scores float32 [None, 1]
- `classify_classes`: inputs -> classes string [None, 2], scores float32 [None, 2]
- `regress_x_to_y`: inputs -> outputs float32 [None]
- `sum_ab`: a float32 [None], b float32 [None] -> s (a + b), d (a - b)
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def example(x: float) -> bytes:
    import tensorflow as tf

    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
    return bytes(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def build_half_plus(path: Path, offset: float) -> Path:
    import tensorflow as tf

    class HalfPlus(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(offset)

        def _y(self, x: tf.Tensor) -> tf.Tensor:
            return self.a * x + self.b

        def _parse(self, serialized: tf.Tensor) -> tf.Tensor:
            spec = {"x": tf.io.FixedLenFeature([1], tf.float32)}
            return tf.io.parse_example(serialized, spec)["x"][:, 0]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self._y(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"scores": self._y(self._parse(serialized))[:, None]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify_classes(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            y = self._y(self._parse(serialized))
            n = tf.shape(y)[0]
            classes = tf.tile(tf.constant([[b"low", b"high"]]), [n, 1])
            return {"classes": classes, "scores": tf.stack([1.0 - y / 10.0, y / 10.0], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": self._y(self._parse(serialized))}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="a"),
                tf.TensorSpec([None], tf.float32, name="b"),
            ]
        )
        def sum_ab(self, a: tf.Tensor, b: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"s": a + b, "d": a - b}

    module = HalfPlus()
    signatures = {
        "serving_default": module.predict,
        "classify_x_to_y": module.classify,
        "classify_classes": module.classify_classes,
        "regress_x_to_y": module.regress,
        "sum_ab": module.sum_ab,
    }
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def predict_log(inputs: dict[str, np.ndarray], signature: str = "") -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    entry = prediction_log_pb2.PredictionLog()
    request = entry.predict_log.request
    request.model_spec.name = "ignored"
    request.model_spec.signature_name = signature
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return bytes(entry.SerializeToString())


def examples_log(kind: str, values: Sequence[float], signature: str) -> bytes:
    """A classify_log or regress_log record over tf.Examples with feature x."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    entry = prediction_log_pb2.PredictionLog()
    request = getattr(entry, kind).request
    request.model_spec.signature_name = signature
    for x in values:
        request.input.example_list.examples.add().ParseFromString(example(x))
    del tf
    return bytes(entry.SerializeToString())


def write_records(path: Path, records: Iterable[bytes]) -> Path:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


@functools.cache
def _built(offset: float) -> Path:
    root = Path(tempfile.mkdtemp(prefix="tfkit-core-models-"))
    atexit.register(shutil.rmtree, root, True)
    return build_half_plus(root / "model", offset)


def add_version(base: Path, version: int, offset: float = 2.0) -> Path:
    """Copy a built model into `base/<version>` atomically (temp dir + rename), as exporters should."""
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".tmp-{version}"
    shutil.copytree(_built(offset), staging)
    target = base / str(version)
    staging.rename(target)
    return target


def add_corrupt_version(base: Path, version: int) -> Path:
    """A version directory whose saved_model.pb is garbage (fails to load)."""
    target = base / str(version)
    target.mkdir(parents=True)
    (target / "saved_model.pb").write_bytes(b"\x00not a saved model\xff" * 8)
    return target
