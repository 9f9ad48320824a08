"""serving.grpc.servicer's pure helpers: ModelSpec <-> proto (contract §2.1) and result messages."""

from __future__ import annotations

import pytest
from tensorflow_serving.apis import classification_pb2, model_pb2, predict_pb2, regression_pb2

from serving.grpc.servicer import (
    fill_classification,
    fill_model_spec,
    fill_regression,
    spec_from_model_spec,
    spec_from_proto,
)
from serving.status import InvalidArgument
from serving.types import ClassifyResponse, ModelSpec, RegressResponse, ResolvedSpec


def test_missing_model_spec() -> None:
    with pytest.raises(InvalidArgument, match="Missing ModelSpec"):
        spec_from_proto(predict_pb2.PredictRequest())


def test_version_wrapper_makes_version_zero_addressable() -> None:
    ms = model_pb2.ModelSpec(name="m")
    assert spec_from_model_spec(ms) == ModelSpec("m")
    ms.version.value = 0
    assert spec_from_model_spec(ms) == ModelSpec("m", version=0)
    ms.version_label = "stable"  # oneof: replaces the version
    assert spec_from_model_spec(ms) == ModelSpec("m", label="stable")
    ms.signature_name = "sig"
    assert spec_from_model_spec(ms).signature_name == "sig"


def test_effective_spec_is_echoed_without_label() -> None:
    target = model_pb2.ModelSpec(version_label="stable")
    fill_model_spec(target, ResolvedSpec("m", 7, "serving_default"))
    assert target.name == "m" and target.version.value == 7 and target.signature_name == "serving_default"
    assert target.WhichOneof("version_choice") == "version"
    bare = model_pb2.ModelSpec()
    fill_model_spec(bare, ResolvedSpec("m", 7, "x"), with_signature=False)
    assert bare.signature_name == ""


def test_classification_and_regression_results() -> None:
    result = classification_pb2.ClassificationResult()
    fill_classification(result, ClassifyResponse(ResolvedSpec("m", 1), [[(b"0", 0.25), (b"\xff", 0.75)]]))
    classes = result.classifications[0].classes
    assert [c.label for c in classes] == ["0", "\ufffd"] and [c.score for c in classes] == [0.25, 0.75]
    regression = regression_pb2.RegressionResult()
    fill_regression(regression, RegressResponse(ResolvedSpec("m", 1), [3.0, -1.5]))
    assert [r.value for r in regression.regressions] == [3.0, -1.5]
