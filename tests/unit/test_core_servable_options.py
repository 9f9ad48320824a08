"""LoadOptions: --enable_signature_method_name_check (predict_util.cc VerifySignature, classifier.cc /
regressor.cc Get*SignatureDef and PreProcess*), --remove_unused_fields_from_bundle_metagraph and
--prefer_tflite_model (saved_model_bundle_factory.cc, tflite_session.cc), plus the INTERNAL mapping of
unexpected errors inside a run."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, LoadOptions, Servable
from serving.session import INTERNAL_TEXT
from serving.status import Internal, InvalidArgument
from tests.support.tf1_models import half_plus_two_tf1_base
from tests.unit.core_savedmodels import add_version, example

X = np.array([1.0, 2.0, 5.0], np.float32)
CHECK = LoadOptions(enable_signature_method_name_check=True)


def test_defaults_are_upstreams() -> None:
    # model_servers/server.h Options (main.cc flags).
    assert LoadOptions() == LoadOptions(
        enable_signature_method_name_check=False,
        prefer_tflite_model=False,
        remove_unused_fields_from_bundle_metagraph=True,
        session_config=b"",
    )


def test_session_config_reaches_the_session(tf1_path: str) -> None:
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    servable = Servable.load("m", 1, tf1_path, options=LoadOptions(session_config=config.SerializeToString()))
    np.testing.assert_allclose(servable.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    assert servable.session.config == config  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def tf2_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(add_version(tmp_path_factory.mktemp("tf2"), 1))


@pytest.fixture(scope="module")
def tf1_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(half_plus_two_tf1_base(tmp_path_factory.mktemp("tf1")) / "1")


def test_method_name_check_refuses_native_tf2_classify(tf2_path: str) -> None:
    # TF2 signatures are all tensorflow/serving/predict: with the check on, Classify/Regress refuse them
    # (main.cc: "Disable this if serving native TF2 regression/classification models").
    servable = Servable.load("m", 1, tf2_path, options=CHECK)
    with pytest.raises(InvalidArgument) as info:
        servable.classify("classify_x_to_y", [example(2.0)])
    assert str(info.value) == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict"
    )
    with pytest.raises(InvalidArgument, match=r"^Expected regression signature method_name to be "):
        servable.multi_inference([("regress_x_to_y", REGRESS_METHOD)], [example(2.0)])
    # Predict accepts predict/classify/regress method names; the init-op pseudo signature has "".
    np.testing.assert_allclose(servable.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    with pytest.raises(Internal) as internal:
        servable.predict("__saved_model_init_op", {})
    assert str(internal.value) == (
        "Expected prediction signature method_name to be one of {tensorflow/serving/predict, "
        "tensorflow/serving/classify, tensorflow/serving/regress}. Was: "
    )


def test_method_name_check_passes_tf1_signatures(tf1_path: str) -> None:
    servable = Servable.load("m", 1, tf1_path, options=CHECK)
    assert servable.classify("classify_x_to_y", [example(2.0)]) == [[(b"", 3.0)]]
    tasks = [("regress_x_to_y", REGRESS_METHOD), ("classify_x_to_y", CLASSIFY_METHOD)]
    assert servable.multi_inference(tasks, [example(2.0)]) == [[3.0], [[(b"", 3.0)]]]
    with pytest.raises(
        InvalidArgument,
        match=r"^Expected regression signature method_name .* Was: tensorflow/serving/classify$",
    ):
        servable.regress("classify_x_to_y", [example(2.0)])


def test_remove_unused_fields_keeps_only_signatures(tf1_path: str) -> None:
    # The metadata API only ever reads signature_def, so both settings answer the same.
    lean = Servable.load("m", 1, tf1_path)
    full = Servable.load(
        "m", 1, tf1_path, options=LoadOptions(remove_unused_fields_from_bundle_metagraph=False)
    )
    assert not lean.meta_graph.graph_def.node and lean.meta_graph.signature_def
    assert full.meta_graph.graph_def.node
    assert lean.signature_def_map == full.signature_def_map


@pytest.fixture(scope="module")
def tflite_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF2 half_plus_two version that also holds `model.tflite` (converted from its SavedModel)."""
    import tensorflow as tf

    path = add_version(tmp_path_factory.mktemp("lite"), 1)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=["serving_default"])
    (path / "model.tflite").write_bytes(converter.convert())
    return path


def test_prefer_tflite_model_serves_model_tflite(tflite_version: Path) -> None:
    servable = Servable.load("m", 1, str(tflite_version), options=LoadOptions(prefer_tflite_model=True))
    # tflite_session.cc: no SignatureDefs metadata -> one predict `serving_default` from the
    # interpreter's tensors, aliases without the ":N" suffix.
    assert set(servable.signatures) == {"serving_default"}
    info = servable.signatures["serving_default"]
    assert info.method_name == "tensorflow/serving/predict"
    (alias,) = info.inputs
    assert alias == "serving_default_x" and info.inputs[alias].name == "serving_default_x:0"
    assert info.inputs[alias].dtype == "DT_FLOAT"
    (out,) = info.outputs
    np.testing.assert_allclose(servable.predict("", {alias: X})[out], [2.5, 3.0, 4.5])
    np.testing.assert_allclose(servable.predict("", {alias: X[:1]})[out], [2.5])


def test_prefer_tflite_model_falls_back_to_saved_model(tflite_version: Path, tf2_path: str) -> None:
    assert "regress_x_to_y" in Servable.load("m", 1, str(tflite_version)).signatures
    fallback = Servable.load("m", 1, tf2_path, options=LoadOptions(prefer_tflite_model=True))
    assert "regress_x_to_y" in fallback.signatures


class _BrokenSession:
    """Fault injection: a session whose run raises a plain Python error."""

    def run(self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:
        raise TypeError('can only concatenate list (not "tuple") to list')


def test_unexpected_error_is_internal_with_fixed_text(
    tf2_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    servable = Servable.load("m", 1, tf2_path)
    object.__setattr__(servable.runners["serving_default"], "session", _BrokenSession())
    with caplog.at_level(logging.ERROR), pytest.raises(Internal) as info:
        servable.predict("", {"x": X})
    assert str(info.value) == INTERNAL_TEXT
    assert "can only concatenate" not in str(info.value)
    assert any("can only concatenate" in (r.exc_text or "") for r in caplog.records)


def _with_signature_defs(model: bytes, signature_defs: dict[str, object]) -> bytes:
    """The model with a "signature_defs_metadata" entry, as tflite signature_def_util SetSignatureDefMap
    writes it (FlexBuffer map of key -> serialized SignatureDef as a String)."""
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    fbb = flexbuffers.Builder()
    with fbb.Map():
        for key, sig in signature_defs.items():
            fbb.Key(key)
            fbb.String(sig.SerializeToString().decode("ascii"))  # type: ignore[attr-defined]
    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = list(fbb.Finish())
    obj.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = "signature_defs_metadata"
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = [*(obj.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def _tflite_signature(input_name: str, output_name: str) -> object:
    from tensorflow.core.protobuf import meta_graph_pb2

    sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/regress")
    sig.inputs["x"].name = input_name
    sig.inputs["x"].dtype = 1
    sig.outputs["y"].name = output_name
    sig.outputs["y"].dtype = 1
    return sig


def test_prefer_tflite_model_reads_the_models_signature_defs(tflite_version: Path, tmp_path: Path) -> None:
    # tflite_session.cc TfLiteSession::Create: SignatureDefs from the model's metadata when present.
    plain = Servable.load("m", 1, str(tflite_version), options=LoadOptions(prefer_tflite_model=True))
    info = plain.signatures["serving_default"]
    (in_alias,), (out_alias,) = info.inputs, info.outputs
    model = (tflite_version / "model.tflite").read_bytes()
    version = tmp_path / "1"
    version.mkdir()
    sig = _tflite_signature(info.inputs[in_alias].name, info.outputs[out_alias].name)
    (version / "model.tflite").write_bytes(_with_signature_defs(model, {"half": sig}))
    servable = Servable.load("m", 1, str(version), options=LoadOptions(prefer_tflite_model=True))
    assert set(servable.signatures) == {"half"}
    assert servable.signatures["half"].method_name == "tensorflow/serving/regress"
    np.testing.assert_allclose(servable.predict("half", {"x": X})["y"], [2.5, 3.0, 4.5])

    bad = _tflite_signature("nope:0", info.outputs[out_alias].name)
    (version / "model.tflite").write_bytes(_with_signature_defs(model, {"half": bad}))
    with pytest.raises(Internal) as err:
        Servable.load("m", 1, str(version), options=LoadOptions(prefer_tflite_model=True))
    assert str(err.value) == "Unknown tensor 'nope:0'.\n\tSignature input x references an unknown tensor"
