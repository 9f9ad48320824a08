"""SignatureDefs written into a .tflite (export/convert/lite_signatures.py) read back as TF Serving reads
them: tflite signature_def_util GetSignatureDefMap as used by TfLiteSession::Create
(servables/tensorflow/tflite_session.cc), here through the kit's reader in serving/tflite_session.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export.convert.lite_signatures import (
    LiteSignatureError,
    saved_model_signature_defs,
    signature_defs_for,
    with_signature_defs,
)
from serving.tflite_session import SIGNATURE_DEFS_METADATA, TfLiteSession, metadata_signature_defs


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A SavedModel whose serving_default takes `a` [-1, 2] float32 and `ids` [-1] int64, and its TFLite."""
    import tensorflow as tf

    class Module(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="a"),
                tf.TensorSpec([None], tf.int64, name="ids"),
            ]
        )
        def predict(self, a: Any, ids: Any) -> dict[str, Any]:
            total = tf.reduce_sum(a, axis=1, keepdims=True) + tf.cast(ids[:, None], tf.float32)
            return {"total": total, "doubled": 2.0 * a}

    module = Module()
    path = tmp_path_factory.mktemp("saved") / "1"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.predict})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=["serving_default"])
    return path, bytes(converter.convert())


def _metadata_entries(model: bytes) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(model, 0)
    return [root.Metadata(i).Name().decode() for i in range(root.MetadataLength())]


def test_the_savedmodel_signature_comes_back_with_tflite_tensor_names(
    two_input_model: tuple[Path, bytes],
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    saved_dir, plain = two_input_model
    assert metadata_signature_defs(plain) == {}  # the converter alone writes no SignatureDef metadata
    model = with_signature_defs(plain, signature_defs_for(plain, saved_dir))
    read = metadata_signature_defs(model)
    saved = saved_model_signature_defs(saved_dir)["serving_default"]
    assert list(read) == ["serving_default"]
    sig = read["serving_default"]
    assert sig.method_name == saved.method_name == "tensorflow/serving/predict"
    for kind in ("inputs", "outputs"):
        got, want = getattr(sig, kind), getattr(saved, kind)
        assert sorted(got) == sorted(want)  # the SavedModel's aliases
        for alias in want:
            assert got[alias].dtype == want[alias].dtype
            assert got[alias].tensor_shape == want[alias].tensor_shape  # -1 batch kept
    tensors = {d["name"] for d in Interpreter(model_content=model).get_tensor_details()}
    assert {i.name for i in [*sig.inputs.values(), *sig.outputs.values()]} <= tensors


def test_the_server_session_exposes_the_savedmodel_signature(two_input_model: tuple[Path, bytes]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    saved_dir, plain = two_input_model
    model = with_signature_defs(plain, signature_defs_for(plain, saved_dir))
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    session = TfLiteSession(interpreter, model)
    sig = session.signature_defs["serving_default"]
    assert sorted(sig.inputs) == ["a", "ids"] and sorted(sig.outputs) == ["doubled", "total"]
    a, ids = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), np.array([10, 20], np.int64)
    total, doubled = session.run(
        {sig.inputs["a"].name: a, sig.inputs["ids"].name: ids},
        [sig.outputs["total"].name, sig.outputs["doubled"].name],
    )
    np.testing.assert_allclose(total, [[13.0], [27.0]])
    np.testing.assert_allclose(doubled, 2 * a)


def test_writing_again_replaces_the_one_entry(two_input_model: tuple[Path, bytes]) -> None:
    saved_dir, plain = two_input_model
    signatures = signature_defs_for(plain, saved_dir)
    once = with_signature_defs(plain, signatures)
    signatures["serving_default"].method_name = "tensorflow/serving/regress"
    twice = with_signature_defs(once, signatures)
    assert _metadata_entries(twice).count(SIGNATURE_DEFS_METADATA) == 1
    assert metadata_signature_defs(twice)["serving_default"].method_name == "tensorflow/serving/regress"


def test_refuses_what_tf_serving_would_misread(two_input_model: tuple[Path, bytes]) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2

    _, plain = two_input_model
    with pytest.raises(LiteSignatureError, match="must not be empty"):
        with_signature_defs(plain, {})
    scalar = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    scalar.inputs["x"].name = "x:0"
    scalar.inputs["x"].tensor_shape.SetInParent()  # an empty shape serializes as a 0 length: a NUL byte
    with pytest.raises(LiteSignatureError, match="NUL"):
        with_signature_defs(plain, {"serving_default": scalar})
