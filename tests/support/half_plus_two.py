"""The kit's own half_plus_two test models, shaped like TF Serving's testdata family (TF2 SavedModels).

Upstream's `servables/tensorflow/testdata/saved_model_half_plus_two.py` writes y = a*x + b and, on its
own path, y3 = a*x2 + c with a = 0.5, b = 2, c = 3; its tests serve them as
`saved_model_half_plus_two_2_versions` (versions 00000123 and 00000124), `saved_model_half_plus_three`
and `saved_model_half_plus_two_cpu`. These writers build the same signatures with tf.Module +
tf.function and save them in the same layout:

| signature           | inputs                                  | outputs                     |
|---------------------|-----------------------------------------|-----------------------------|
| `serving_default`   | `x` float32 [1]                         | `y` = 0.5x + offset         |
| `regress_x_to_y`    | `inputs` serialized tf.Example (x)      | `outputs` [N,1] 0.5x+offset |
| `regress_x_to_y2`   | `inputs` serialized tf.Example (x)      | `outputs` [N,1] 0.5x+offset2|
| `regress_x2_to_y3`  | `inputs` float32 [1] (x2)               | `outputs` 0.5x2+offset2     |
| `classify_x_to_y`   | `inputs` serialized tf.Example (x)      | `scores` [N,1] 0.5x+offset  |
| `classify_x2_to_y3` | `inputs` float32 [1] (x2)               | `scores` 0.5x2+offset2      |

The tf.Example features are `x` (float, required) and `x2` (float, default 0), as upstream. Shapes and
tensor names are those of upstream's TF2 variant (`saved_model_half_plus_two_tf2_2_versions_metadata.json`):
declared [1], yet the element-wise graph runs on any shape, as upstream's Session::Run feeds do
(`{"instances": [[1.0, 2.0], [3.0, 4.0]]}` works). TensorFlow is imported inside the writers.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Upstream's testdata names (servables/tensorflow/testdata/) and its version numbers.
TWO_VERSIONS = "saved_model_half_plus_two_2_versions"
HALF_PLUS_THREE = "saved_model_half_plus_three"
HALF_PLUS_TWO_CPU = "saved_model_half_plus_two_cpu"
VERSION = 123
VERSIONS = (123, 124)


def version_dir(base_dir: Path, version: int) -> Path:
    """`<base>/00000123`: upstream's zero-padded version directory names."""
    return Path(base_dir) / f"{version:08d}"


def _module(offset: float, offset2: float) -> Any:
    import tensorflow as tf

    features = {
        "x": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    }
    examples = tf.TensorSpec([None], tf.string, name="inputs")
    column = tf.TensorSpec([1], tf.float32, name="inputs")

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5, name="a")
            self.b = tf.Variable(offset, name="b")
            self.c = tf.Variable(offset2, name="c")

        def _x(self, serialized: tf.Tensor) -> tf.Tensor:
            return tf.io.parse_example(serialized, features)["x"]

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="x")])
        def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[examples])
        def regress_xy(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": self.a * self._x(inputs) + self.b}

        @tf.function(input_signature=[examples])
        def regress_xy2(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": self.a * self._x(inputs) + self.c}

        @tf.function(input_signature=[column])
        def regress_x2y3(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": self.a * inputs + self.c}

        @tf.function(input_signature=[examples])
        def classify_xy(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"scores": self.a * self._x(inputs) + self.b}

        @tf.function(input_signature=[column])
        def classify_x2y3(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"scores": self.a * inputs + self.c}

    return HalfPlusTwo()


def write_half_plus_two(
    base_dir: Path, version: int = VERSION, *, offset: float = 2.0, offset2: float = 3.0
) -> Path:
    """Write one version (y = 0.5x + offset, y3 = 0.5x2 + offset2) to `<base_dir>/<00000version>`.

    Written to a temporary sibling and renamed, so a polling server never sees half a version.
    Returns the version directory.
    """
    import tensorflow as tf

    model = _module(offset, offset2)
    signatures = {
        "serving_default": model.predict,
        "regress_x_to_y": model.regress_xy,
        "regress_x_to_y2": model.regress_xy2,
        "regress_x2_to_y3": model.regress_x2y3,
        "classify_x_to_y": model.classify_xy,
        "classify_x2_to_y3": model.classify_x2y3,
    }
    target = version_dir(base_dir, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        tf.saved_model.save(model, str(staging / "model"), signatures=signatures)
        assets = staging / "model" / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "foo.txt").write_text("asset-file-contents")
        (staging / "model").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_versions(base_dir: Path, versions: Iterable[int] = VERSIONS, **kwargs: float) -> Path:
    """Several versions of the same model (upstream's `_2_versions` layout); returns `base_dir`."""
    for version in versions:
        write_half_plus_two(base_dir, version, **kwargs)
    return Path(base_dir)


def write_testdata(root: Path) -> Path:
    """Upstream's testdata folders under `root`: the 2-versions model, half_plus_three and the cpu one."""
    write_versions(Path(root) / TWO_VERSIONS)
    write_half_plus_two(Path(root) / HALF_PLUS_THREE, offset=3.0)
    write_half_plus_two(Path(root) / HALF_PLUS_TWO_CPU)
    return Path(root)


def example(**features: float) -> bytes:
    """A serialized tf.Example with float features, e.g. `example(x=80.0)`."""
    import tensorflow as tf

    feature = {k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in features.items()}
    return bytes(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
