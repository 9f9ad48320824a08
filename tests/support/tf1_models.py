"""TF1 (graph-mode) test SavedModels of the half_plus_two family, written with `tf.compat.v1` builders.

The shape follows upstream's servables/tensorflow/testdata/saved_model_half_plus_two.py (TF1 branch),
written anew: variables a = 0.5, b = 2, c = 3; one `tf.string` placeholder `tf_example:0` of serialized
tf.Example records with float features `x` and `x2` (x2 defaults to 0); y = a*x + b, y2 = a*x + c,
y3 = a*x2 + c. Signatures:

- `serving_default` (predict): x (`x:0`, the parsed feature) -> y
- `regress_x_to_y`, `regress_x_to_y2` (regress): inputs = `tf_example:0` -> outputs = y / y2
- `regress_x2_to_y3` (regress): inputs = `x2:0` (float) -> outputs = y3
- `classify_x_to_y` (classify): inputs = `tf_example:0` -> scores = y
- `classify_x2_to_y3` (classify): inputs = `x2:0` -> scores = y3

`write_half_plus_two_tf1(path)` writes it; `half_plus_two_tf1_base()` builds one copy per test session
as a model base path (`<base>/1`).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def _signature(tf1: Any, inputs: dict[str, Any], outputs: dict[str, Any], method: str) -> Any:
    info = tf1.saved_model.utils.build_tensor_info
    return tf1.saved_model.signature_def_utils.build_signature_def(
        {k: info(v) for k, v in inputs.items()}, {k: info(v) for k, v in outputs.items()}, method
    )


def write_half_plus_two_tf1(path: Path, defaults: bool = False) -> Path:
    """Write the TF1 half_plus_two SavedModel to `path` (must not exist).

    With `defaults=True` the predict signature `with_default` reads x and an optional `offset` whose
    SignatureDef `defaults` entry is 2.0 (y = 0.5x + offset), to exercise predict_util's defaults.
    """
    import tensorflow as tf

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        a = tf1.Variable(0.5, name="a")
        b = tf1.Variable(2.0, name="b")
        c = tf1.Variable(3.0, name="c")
        serialized = tf1.placeholder(tf.string, shape=[None], name="tf_example")
        spec = {
            "x": tf1.FixedLenFeature([1], tf.float32),
            "x2": tf1.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        }
        parsed = tf1.parse_example(serialized, spec)
        x = tf.identity(parsed["x"], name="x")
        x2 = tf.identity(parsed["x2"], name="x2")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        y3 = tf.identity(a * x2 + c, name="y3")
        signatures = {
            "serving_default": _signature(tf1, {"x": x}, {"y": y}, PREDICT),
            "regress_x_to_y": _signature(tf1, {"inputs": serialized}, {"outputs": y}, REGRESS),
            "regress_x_to_y2": _signature(tf1, {"inputs": serialized}, {"outputs": y2}, REGRESS),
            "regress_x2_to_y3": _signature(tf1, {"inputs": x2}, {"outputs": y3}, REGRESS),
            "classify_x_to_y": _signature(tf1, {"inputs": serialized}, {"scores": y}, CLASSIFY),
            "classify_x2_to_y3": _signature(tf1, {"inputs": x2}, {"scores": y3}, CLASSIFY),
        }
        if defaults:
            px = tf1.placeholder(tf.float32, shape=[None], name="px")
            offset = tf1.placeholder(tf.float32, shape=[], name="offset")
            sig = _signature(tf1, {"x": px, "offset": offset}, {"y": a * px + offset}, PREDICT)
            sig.defaults["offset"].CopyFrom(tf.make_tensor_proto(2.0, tf.float32))
            signatures["with_default"] = sig
        sess.run(tf1.global_variables_initializer())
        builder = tf1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures)
        builder.save()
    return path


@functools.cache
def _built(defaults: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="tfkit-tf1-models-"))
    atexit.register(shutil.rmtree, root, True)
    return write_half_plus_two_tf1(root / "model", defaults=defaults)


def half_plus_two_tf1_base(base: Path, version: int = 1, defaults: bool = False) -> Path:
    """Copy the built TF1 model into `base/<version>`; returns the base path."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_built(defaults), base / str(version))
    return base
