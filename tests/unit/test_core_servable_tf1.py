"""TF1 (graph-mode) SavedModels in-process: every API on the half_plus_two family written with
tf.compat.v1 builders (tests/support/tf1_models.py), as upstream serves them.

Expected values come from upstream: model_servers/tensorflow_model_server_test.py (predict 2.5/3.0/4.5,
regress/classify x=2 -> 3), servables/tensorflow/multi_inference_test.cc (MultiInference cases, run there
on the TF1 half_plus_two too), and predict_util.cc / tensorflow/cc/saved_model/util.cc GetInputValues
for SignatureDef `defaults` and the request-input texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, Servable
from serving.status import InvalidArgument, Unimplemented
from tests.support.tf1_models import half_plus_two_tf1_base
from tests.unit.core_savedmodels import example

X = np.array([1.0, 2.0, 5.0], np.float32)


@pytest.fixture(scope="module")
def servable(tmp_path_factory: pytest.TempPathFactory) -> Servable:
    base = half_plus_two_tf1_base(tmp_path_factory.mktemp("tf1"), defaults=True)
    return Servable.load("half_plus_two", 1, str(base / "1"))


def example2(x: float, x2: float) -> bytes:
    import tensorflow as tf

    feature = {
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
        "x2": tf.train.Feature(float_list=tf.train.FloatList(value=[x2])),
    }
    return bytes(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_predict_instances_as_upstream(servable: Servable) -> None:
    # The TF Serving REST tutorial: instances [1.0, 2.0, 5.0] -> predictions [2.5, 3.0, 4.5]; x:0 has
    # static shape [-1, 1], and upstream (C++ Session::Run) does not check feeds against it.
    out = servable.predict("", {"x": X})
    np.testing.assert_allclose(out["y"], [2.5, 3.0, 4.5])
    assert servable.predict("serving_default", {"x": X.reshape(3, 1)})["y"].shape == (3, 1)


def test_predict_dtype_error_is_tf_text(servable: Servable) -> None:
    with pytest.raises(InvalidArgument, match=r"^Expects arg\[0\] to be float but double is provided$"):
        servable.predict("", {"x": X.astype(np.float64)})


def test_classify_and_regress(servable: Servable) -> None:
    # tensorflow_model_server_test.py testClassify / testRegress: x=2 -> 3.0.
    assert servable.regress("regress_x_to_y", [example(2.0)]) == [3.0]
    assert servable.regress("regress_x_to_y2", [example(2.0)]) == [4.0]
    assert servable.classify("classify_x_to_y", [example(2.0)]) == [[(b"", 3.0)]]
    assert servable.regress("regress_x_to_y", [example(2.0), example(4.0)]) == [3.0, 4.0]


def test_examples_into_a_float_input_is_the_runtime_dtype_error(servable: Servable) -> None:
    # regress_x2_to_y3 reads x2:0 (float): serialized examples fed there fail as TF's runtime does.
    with pytest.raises(InvalidArgument, match=r"^Expects arg\[0\] to be float but string is provided$"):
        servable.regress("regress_x2_to_y3", [example2(1.0, 4.0)])


def test_classify_signature_errors_quote_the_signature(servable: Servable) -> None:
    with pytest.raises(InvalidArgument) as info:
        servable.classify("serving_default", [example(1.0)])
    assert info.value.message.startswith(
        'No classification inputs found in SignatureDef: inputs {\n  key: "x"'
    )
    assert 'method_name: "tensorflow/serving/predict"' in info.value.message


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        # multi_inference_test.cc ValidSingleSignatureTest
        ([("regress_x_to_y", REGRESS_METHOD)], [[3.0]]),
        # MultipleValidRegressSignaturesTest
        ([("regress_x_to_y", REGRESS_METHOD), ("regress_x_to_y2", REGRESS_METHOD)], [[3.0], [4.0]]),
        # RegressAndClassifySignaturesTest
        ([("regress_x_to_y", REGRESS_METHOD), ("classify_x_to_y", CLASSIFY_METHOD)], [[3.0], [[(b"", 3.0)]]]),
    ],
)
def test_multi_inference(servable: Servable, tasks: list[tuple[str, str]], expected: list[object]) -> None:
    assert servable.multi_inference(tasks, [example(2.0)]) == expected


@pytest.mark.parametrize(
    ("tasks", "examples", "error", "text"),
    [
        # MissingInputTest, UndefinedSignatureTest, EvaluateDuplicateSignaturesTest,
        # UsupportedSignatureTypeTest
        ([("regress_x_to_y", REGRESS_METHOD)], [], InvalidArgument, "Input is empty."),
        (
            [("nope", REGRESS_METHOD)],
            [b""],
            InvalidArgument,
            "Requested signature not found in model graph: nope",
        ),
        (
            [("regress_x_to_y", REGRESS_METHOD)] * 2,
            [b""],
            InvalidArgument,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (
            [("serving_default", "tensorflow/serving/predict")],
            [b""],
            Unimplemented,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
    ],
)
def test_multi_inference_errors(
    servable: Servable, tasks: list[tuple[str, str]], examples: list[bytes], error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as info:
        servable.multi_inference(tasks, examples)
    assert str(info.value) == text


def test_signature_defaults_fill_missing_inputs(servable: Servable) -> None:
    one = np.array([1.0], np.float32)
    np.testing.assert_allclose(servable.predict("with_default", {"x": one})["y"], [2.5])
    offset = np.array(10.0, np.float32)
    np.testing.assert_allclose(servable.predict("with_default", {"x": one, "offset": offset})["y"], [10.5])


@pytest.mark.parametrize(
    ("inputs", "text"),
    [
        (
            {"offset": np.array(1.0, np.float32)},
            "Signature input alias: x(feed name: px:0) not found in request and no default value provided. "
            "Inputs expected to be in the request {offset}, or default input alias set: offset",
        ),
        (
            {"x": X, "z": X},
            "Inputs contains invalid name. Used request inputs: x, request input: x,z",
        ),
        (
            {"x": X, "offset": X, "z": X},
            "input size does not match signature: 3!=2 len({offset,x,z}) != len({offset,x}). "
            "Sent extra: {z}. Missing but required: {}.",
        ),
    ],
)
def test_defaults_request_errors(servable: Servable, inputs: dict[str, np.ndarray], text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        servable.predict("with_default", inputs)
    assert str(info.value) == text


def test_metadata_is_the_tf1_signature_def_map(servable: Servable) -> None:
    from tensorflow_serving.apis import get_model_metadata_pb2

    sig_map = get_model_metadata_pb2.SignatureDefMap.FromString(servable.signature_def_map)
    assert set(sig_map.signature_def) == {
        "serving_default",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
        "classify_x_to_y",
        "classify_x2_to_y3",
        "with_default",
    }
    assert sig_map.signature_def["regress_x_to_y"].inputs["inputs"].name == "tf_example:0"
    assert sig_map.signature_def["classify_x_to_y"].method_name == CLASSIFY_METHOD
    assert servable.signatures["serving_default"].inputs["x"].shape == (-1, 1)


def test_tf1_model_loads_from_a_copy(tmp_path: Path) -> None:
    base = half_plus_two_tf1_base(tmp_path / "m", version=7)
    servable = Servable.load("m", 7, str(base / "7"))
    np.testing.assert_allclose(servable.predict("", {"x": X})["y"], [2.5, 3.0, 4.5])
