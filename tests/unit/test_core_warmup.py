"""Warmup replay: missing file, valid records (all log types), iterations, every failure status, and the
metrics a replay records (servables/tensorflow/saved_model_warmup.cc, saved_model_warmup_util.cc)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serving.metrics import Metrics
from serving.servable import Servable
from serving.status import DataLoss, InvalidArgument, Unimplemented
from serving.warmup import MAX_RECORDS, run_warmup, warmup_path
from tests.unit.core_savedmodels import add_version, examples_log, predict_log, write_records

X = np.array([1.0, 2.0], np.float32)


@pytest.fixture
def servable(tmp_path: Path) -> Servable:
    return Servable.load("half", 1, str(add_version(tmp_path / "half", 1)))


def test_missing_file_is_fine(servable: Servable) -> None:
    assert run_warmup(servable) == 0


def test_replays_every_log_type_and_records_metrics(servable: Servable) -> None:
    from tensorflow_serving.apis import prediction_log_pb2

    multi = prediction_log_pb2.PredictionLog()
    task = multi.multi_inference_log.request.tasks.add()
    task.model_spec.signature_name = "regress_x_to_y"
    task.method_name = "tensorflow/serving/regress"
    multi.multi_inference_log.request.input.CopyFrom(
        prediction_log_pb2.PredictionLog.FromString(
            examples_log("regress_log", [1.0], "")
        ).regress_log.request.input
    )
    multi.multi_inference_log.request.tasks[0].model_spec.name = "half"
    records = [
        predict_log({"x": X}),
        examples_log("classify_log", [1.0, 2.0], "classify_x_to_y"),
        examples_log("regress_log", [3.0], "regress_x_to_y"),
        multi.SerializeToString(),
        prediction_log_pb2.PredictionLog().SerializeToString(),  # no log type: skipped silently
    ]
    write_records(warmup_path(servable.path), records)
    metrics = Metrics()
    assert run_warmup(servable, iterations=3, metrics=metrics) == len(records)
    text = metrics.render().decode()
    assert f':tfkit:serving:model_warmup_records_read{{model_path="{servable.path}",status="OK"}} 5\n' in text
    assert (
        f':tensorflow:serving:model_warmup_latency_count{{model_path="{servable.path}",status="OK"}} 1\n'
        in text
    )
    # RunPredict / RunClassify / RunRegress record runtime latency under the record's model name (3
    # iterations each); RunMultiInference records the example count instead.
    for api in ("Predict", "Classify", "Regress"):
        model = "ignored" if api == "Predict" else ""
        assert f':runtime_latency_count{{model_name="{model}",API="{api}",runtime="TF1"}} 3\n' in text
    assert ':tensorflow:serving:request_example_count_total{model="half"} 3\n' in text


def test_warmup_decodes_tensors_with_the_kits_codec(servable: Servable) -> None:
    """A TensorProto whose content does not fit its shape fails as the gRPC API does (predict_util.cc)."""
    from tensorflow_serving.apis import prediction_log_pb2

    entry = prediction_log_pb2.PredictionLog()
    tensor = entry.predict_log.request.inputs["x"]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add(size=3)
    tensor.tensor_content = b"\x00" * 5
    write_records(warmup_path(servable.path), [entry.SerializeToString()])
    with pytest.raises(InvalidArgument, match=r"^tensor parsing error: x$"):
        run_warmup(servable)


def test_more_than_max_records_fails(servable: Servable) -> None:
    path = write_records(warmup_path(servable.path), [predict_log({"x": X})] * (MAX_RECORDS + 1))
    with pytest.raises(InvalidArgument) as info:
        run_warmup(servable)
    assert str(info.value) == f"Number of warmup records exceeds the maximum (1000) at {path}"


def test_exactly_max_records_is_fine(servable: Servable) -> None:
    write_records(warmup_path(servable.path), [predict_log({"x": X})] * MAX_RECORDS)
    assert run_warmup(servable) == MAX_RECORDS


def test_corrupt_file_is_data_loss(servable: Servable) -> None:
    path = warmup_path(servable.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a tfrecord file at all, just text")
    metrics = Metrics()
    with pytest.raises(DataLoss) as info:
        run_warmup(servable, metrics=metrics)
    assert "corrupted record at 0" in str(info.value)
    assert str(info.value).endswith("Please verify your warmup data is in TFRecord format.")
    # The read error's status text labels the latency (Status::ToString(), before the hint is added).
    text = metrics.render().decode()
    assert f':model_warmup_latency_count{{model_path="{servable.path}",status="DATA_LOSS: ' in text
    assert 'TFRecord format."' not in text


def test_unparseable_record(servable: Servable) -> None:
    path = write_records(warmup_path(servable.path), [b"\xff\xff\xff\xff"])
    with pytest.raises(InvalidArgument, match=r"^Failed to parse warmup record: .* from ") as info:
        run_warmup(servable)
    assert str(info.value).endswith(str(path))


def test_unsupported_log_type(servable: Servable) -> None:
    from tensorflow_serving.apis import prediction_log_pb2

    entry = prediction_log_pb2.PredictionLog()
    entry.session_run_log.SetInParent()
    write_records(warmup_path(servable.path), [entry.SerializeToString()])
    with pytest.raises(Unimplemented, match=r"^Unsupported log_type for warmup: 5$"):
        run_warmup(servable)


def test_failing_request_fails_warmup(servable: Servable) -> None:
    write_records(warmup_path(servable.path), [predict_log({"x": X.astype(np.float16)})])
    metrics = Metrics()
    with pytest.raises(InvalidArgument, match=r"^Expects arg\[0\] to be float but half is provided$"):
        run_warmup(servable, metrics=metrics)
    # Upstream's single-threaded loop returns before recording model_warmup_latency.
    assert "model_warmup_latency_count" not in metrics.render().decode()
