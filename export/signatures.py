"""Serving modules with the fixed SignatureDefs (tf.Module + tf.function with named TensorSpecs).

linear: serving_default  x float32 [None,1]            -> y float32 [None,1]
        regression       inputs string [None]          -> outputs float32 [None]
ctr:    serving_default  feature float32 [None,121], user_id int64 [None], article_id int64 [None]
                                                        -> probability float32 [None,1]
        classification   inputs string [None]          -> classes string [None,2], scores float32 [None,2]
        predict_examples examples string [None]        -> probability float32 [None,1]
"""

from __future__ import annotations

from typing import Any

from export.schema import serving_feature_spec

CLASS_LABELS = (b"0", b"1")


def linear_serving_module(model: Any) -> tuple[Any, dict[str, Any]]:
    """(module to save, signatures) for the linear model."""
    import tensorflow as tf

    class LinearServing(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="linear_serving")
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict(self, x: Any) -> dict[str, Any]:
            return {"y": self.model(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs: Any) -> dict[str, Any]:
            parsed = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return {"outputs": tf.reshape(self.model(parsed["x"]), [-1])}

    module = LinearServing()
    return module, {"serving_default": module.predict, "regression": module.regress}


def ctr_serving_module(model: Any, feature_len: int) -> tuple[Any, dict[str, Any]]:
    """(module to save, signatures) for the CTR model."""
    import tensorflow as tf

    class CtrServing(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="ctr_serving")
            self.model = model

        def _from_examples(self, serialized: Any) -> Any:
            parsed = tf.io.parse_example(serialized, serving_feature_spec())
            vectors = tf.io.decode_raw(parsed["feature"], tf.float64)
            feature = tf.reshape(tf.cast(vectors, tf.float32), [-1, feature_len])
            return self.model.probability(feature, parsed["user_id"], parsed["article_id"])

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, feature_len], tf.float32, name="feature"),
                tf.TensorSpec([None], tf.int64, name="user_id"),
                tf.TensorSpec([None], tf.int64, name="article_id"),
            ]
        )
        def predict(self, feature: Any, user_id: Any, article_id: Any) -> dict[str, Any]:
            return {"probability": self.model.probability(feature, user_id, article_id)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs: Any) -> dict[str, Any]:
            p = self._from_examples(inputs)
            classes = tf.tile(tf.constant([list(CLASS_LABELS)]), [tf.shape(p)[0], 1])
            return {"classes": classes, "scores": tf.concat([1.0 - p, p], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def predict_examples(self, examples: Any) -> dict[str, Any]:
            return {"probability": self._from_examples(examples)}

    module = CtrServing()
    return module, {
        "serving_default": module.predict,
        "classification": module.classify,
        "predict_examples": module.predict_examples,
    }
