"""Servable: loading a real SavedModel, Predict/Classify/Regress/MultiInference and every error text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, Servable
from serving.status import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from tests.unit.core_savedmodels import add_corrupt_version, add_version, example


@pytest.fixture(scope="module")
def servable(tmp_path_factory: pytest.TempPathFactory) -> Servable:
    base = tmp_path_factory.mktemp("half")
    return Servable.load("half", 1, str(add_version(base, 1)))


X = np.array([1.0, 2.0, 5.0], np.float32)


def test_predict_half_plus_two(servable: Servable) -> None:
    out = servable.predict("", {"x": X})
    np.testing.assert_allclose(out["y"], [2.5, 3.0, 4.5])
    assert out["y"].dtype == np.float32


def test_shape_is_not_validated_against_signature(servable: Servable) -> None:
    # Upstream has no server-side shape validation: a [3, 1] tensor runs through the graph.
    out = servable.predict("serving_default", {"x": X.reshape(3, 1)})
    assert out["y"].shape == (3, 1)


def test_output_filter_selects(servable: Servable) -> None:
    out = servable.predict("sum_ab", {"a": X, "b": X}, ["d"])
    assert list(out) == ["d"]
    np.testing.assert_allclose(out["d"], [0, 0, 0])


@pytest.mark.parametrize(
    ("signature", "inputs", "output_filter", "error", "text"),
    [
        ("nope", {"x": X}, (), FailedPrecondition, 'Serving signature key "nope" not found.'),
        (
            "",
            {"x": X, "z": X},
            (),
            InvalidArgument,
            "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
            "Missing but required: {}.",
        ),
        (
            "",
            {"a": X},
            (),
            InvalidArgument,
            "Signature input alias: x(feed name: serving_default_x:0) not found in request and no default "
            "value provided. Inputs expected to be in the request {a}, or default input alias set: ",
        ),
        (
            "sum_ab",
            {"a": X, "b": X},
            ("q",),
            InvalidArgument,
            "output tensor alias not found in signature: q Outputs expected to be in the set {d,s}.",
        ),
        ("sum_ab", {"a": X, "b": X}, ("s", "s"), InvalidArgument, "duplicate output tensor alias: s"),
        (
            "",
            {"x": np.array([b"a"], dtype=object)},
            (),
            InvalidArgument,
            "Expects arg[0] to be float but string is provided",
        ),
        (
            "",
            {"x": X.astype(np.float64)},
            (),
            InvalidArgument,
            "Expects arg[0] to be float but double is provided",
        ),
    ],
)
def test_predict_errors(
    servable: Servable,
    signature: str,
    inputs: dict[str, np.ndarray],
    output_filter: tuple[str, ...],
    error: type[Exception],
    text: str,
) -> None:
    with pytest.raises(error) as info:
        servable.predict(signature, inputs, output_filter)
    assert str(info.value) == text


def test_runtime_shape_error_is_invalid_argument_with_tf_text(servable: Servable) -> None:
    with pytest.raises(InvalidArgument) as info:
        servable.predict("sum_ab", {"a": X, "b": np.ones(2, np.float32)})
    assert "Incompatible shapes: [3] vs. [2]" in str(info.value)
    assert "Graph execution error" not in str(info.value)


def test_classify_and_regress(servable: Servable) -> None:
    examples = [example(2.0), example(4.0)]
    assert servable.classify("classify_x_to_y", examples) == [[(b"", 3.0)], [(b"", 4.0)]]
    classes = servable.classify("classify_classes", [example(2.0)])
    assert [label for label, _ in classes[0]] == [b"low", b"high"]
    assert classes[0][1][1] == pytest.approx(0.3)
    assert servable.regress("regress_x_to_y", examples) == [3.0, 4.0]


@pytest.mark.parametrize(
    ("method", "signature", "error", "text"),
    [
        ("classify", "nope", InvalidArgument, "No signature was found with the name: nope"),
        ("regress", "nope", InvalidArgument, "No signature was found with the name: nope"),
        # classifier.cc / regressor.cc PreProcess*: INVALID_ARGUMENT with the SignatureDef's DebugString.
        ("regress", "", InvalidArgument, 'No regression inputs found in SignatureDef: inputs {\n  key: "x"'),
        ("classify", "", InvalidArgument, "No classification inputs found in SignatureDef: inputs {\n"),
        ("regress", "sum_ab", InvalidArgument, "Expected one input Tensor."),
        ("regress", "classify_classes", InvalidArgument, "Expected one output Tensor."),
        (
            "classify",
            "regress_x_to_y",
            InvalidArgument,
            'at least one of "classes" or "scores". Signature was: inputs {',
        ),
    ],
)
def test_examples_signature_errors(
    servable: Servable, method: str, signature: str, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as info:
        getattr(servable, method)(signature, [example(1.0)])
    assert text in str(info.value)


def test_empty_examples(servable: Servable) -> None:
    with pytest.raises(InvalidArgument, match=r"^Input is empty\.$"):
        servable.regress("regress_x_to_y", [])


def test_multi_inference(servable: Servable) -> None:
    assert servable.multi_inference([("classify_x_to_y", CLASSIFY_METHOD)], [example(2.0)]) == [
        [[(b"", 3.0)]]
    ]
    assert servable.multi_inference([("regress_x_to_y", REGRESS_METHOD)], [example(2.0)]) == [[3.0]]
    # multi_inference_test.cc RegressAndClassifySignaturesTest (TF2 model): each signature has its own
    # input placeholder; upstream 2.19.0 feeds the same examples to every one and runs both tasks.
    tasks = [("regress_x_to_y", REGRESS_METHOD), ("classify_x_to_y", CLASSIFY_METHOD)]
    assert servable.multi_inference(tasks, [example(2.0)]) == [[3.0], [[(b"", 3.0)]]]
    with pytest.raises(InvalidArgument, match="Duplicate evaluation of signature: regress_x_to_y"):
        servable.multi_inference([("regress_x_to_y", REGRESS_METHOD)] * 2, [example(2.0)])
    with pytest.raises(Unimplemented, match="Unsupported signature method_name: tensorflow/serving/predict"):
        servable.multi_inference([("regress_x_to_y", "tensorflow/serving/predict")], [example(2.0)])
    with pytest.raises(InvalidArgument, match="Requested signature not found in model graph: nope"):
        servable.multi_inference([("nope", REGRESS_METHOD)], [example(2.0)])


def test_metadata_signature_def_map(servable: Servable) -> None:
    from tensorflow_serving.apis import get_model_metadata_pb2

    sig_map = get_model_metadata_pb2.SignatureDefMap.FromString(servable.signature_def_map)
    assert {"serving_default", "__saved_model_init_op", "regress_x_to_y"} <= set(sig_map.signature_def)
    default = sig_map.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["x"].name == "serving_default_x:0"
    info = servable.signatures["serving_default"]
    assert info.inputs["x"].dtype == "DT_FLOAT" and info.inputs["x"].shape == (-1,)
    assert servable.signatures["__saved_model_init_op"].method_name == ""


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"Could not find SavedModel \.pb or \.pbtxt"):
        Servable.load("m", 1, str(tmp_path))
    corrupt = add_corrupt_version(tmp_path / "base", 3)
    with pytest.raises(Exception, match=str(corrupt)):
        Servable.load("m", 3, str(corrupt))


def test_tf2_signature_defaults(tmp_path: Path) -> None:
    # TF 2.19 writes SignatureDef `defaults` for tf.function tensor defaults; predict_util.cc /
    # tensorflow/cc/saved_model/util.cc GetInputValues feed them when the request omits the input.
    import tensorflow as tf

    two = tf.constant(2.0)

    class WithDefault(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32)])
        def f(self, x: tf.Tensor, offset: tf.Tensor = two) -> dict[str, tf.Tensor]:
            return {"y": 0.5 * x + offset}

    module = WithDefault()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.f})
    servable = Servable.load("d", 1, str(tmp_path / "1"))
    from tensorflow_serving.apis import get_model_metadata_pb2

    sig_map = get_model_metadata_pb2.SignatureDefMap.FromString(servable.signature_def_map)
    assert set(sig_map.signature_def["serving_default"].defaults) == {"offset"}
    np.testing.assert_allclose(servable.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
    offset = np.array(0.0, np.float32)
    np.testing.assert_allclose(servable.predict("", {"x": X, "offset": offset})["y"], [0.5, 1.0, 2.5])


def test_output_filter_order_shares_one_session_callable(servable: Servable) -> None:
    inputs = {"a": X, "b": np.ones(3, np.float32)}
    first = servable.predict("sum_ab", inputs, ["s", "d"])
    cached = len(servable.session._callables)  # type: ignore[attr-defined]
    second = servable.predict("sum_ab", inputs, ["d", "s"])
    assert list(first) == ["s", "d"] and list(second) == ["d", "s"]
    np.testing.assert_allclose(second["s"], X + 1)
    np.testing.assert_allclose(second["d"], X - 1)
    assert len(servable.session._callables) == cached  # type: ignore[attr-defined]
