"""`assets.extra/tf_serving_warmup_requests`: a TFRecord of tensorflow.serving.PredictionLog records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def _model_spec(spec: Any, model: str, signature: str) -> None:
    spec.name = model
    spec.signature_name = signature


def predict_log(model: str, signature: str, inputs: dict[str, np.ndarray]) -> Any:
    """A PredictionLog holding a PredictRequest."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    _model_spec(request.model_spec, model, signature)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return log


def classify_log(model: str, signature: str, examples: list[bytes]) -> Any:
    """A PredictionLog holding a ClassificationRequest over serialized tf.Examples."""
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = log.classify_log.request
    _model_spec(request.model_spec, model, signature)
    for raw in examples:
        request.input.example_list.examples.append(example_pb2.Example.FromString(raw))
    return log


def regress_log(model: str, signature: str, examples: list[bytes]) -> Any:
    """A PredictionLog holding a RegressionRequest over serialized tf.Examples."""
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = log.regress_log.request
    _model_spec(request.model_spec, model, signature)
    for raw in examples:
        request.input.example_list.examples.append(example_pb2.Example.FromString(raw))
    return log


def write_warmup(version_dir: Path, logs: list[Any]) -> Path:
    """Write the PredictionLogs as TFRecords into <version_dir>/assets.extra/ (at most 1000, as upstream)."""
    from export.records import TFRecordFile

    if not 0 < len(logs) <= 1000:
        raise ValueError(f"warmup needs 1..1000 records, got {len(logs)}")
    path = version_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with TFRecordFile(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup(version_dir: Path) -> list[Any]:
    """Parse a version's warmup file back into PredictionLog messages."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / WARMUP_FILE
    return [
        prediction_log_pb2.PredictionLog.FromString(bytes(r.numpy()))
        for r in tf.data.TFRecordDataset(str(path))
    ]
