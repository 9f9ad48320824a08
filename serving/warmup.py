"""Replay `assets.extra/tf_serving_warmup_requests` while a version loads (contract §4).

The file is an uncompressed TFRecord of serialized `tensorflow.serving.PredictionLog`s. Each record's
request runs on the servable being loaded (the model name/version inside are not used for routing)
`iterations` times. Limits and failures follow saved_model_warmup_util.cc: a missing file is fine; more
than 1000 records, a corrupt file, an unparseable record, an unsupported log type or a failing request
fail the load with the upstream status.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from serving.examples import serialized_examples
from serving.metrics import Metrics
from serving.servable import Servable
from serving.status import DataLoss, InvalidArgument, ServingError, Unimplemented

log = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000
# PredictionLog.log_type field numbers, used in the UNIMPLEMENTED text as upstream prints the oneof case.
_LOG_TYPE_NUMBERS = {"predict_streamed_log": 7, "session_run_log": 5}


def warmup_path(version_dir: str) -> Path:
    return Path(version_dir) / WARMUP_FILE


def run_warmup(servable: Servable, iterations: int = 1, metrics: Metrics | None = None) -> int:
    """Replay the warmup file of `servable.path`; returns the number of records read (0 if absent)."""
    path = warmup_path(servable.path)
    if not path.is_file():
        log.info("No warmup data file found at %s", path)
        return 0
    started = time.monotonic()
    records = 0
    ok = False
    try:
        records = _replay(servable, path, max(1, iterations))
        ok = True
    finally:
        if metrics is not None:
            metrics.observe_warmup(servable.path, records, time.monotonic() - started, ok)
    log.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, records
    )
    return records


def _replay(servable: Servable, path: Path, iterations: int) -> int:
    import tensorflow as tf
    from google.protobuf import message
    from tensorflow_serving.apis import prediction_log_pb2

    records = 0
    try:
        for tensor in tf.data.TFRecordDataset(str(path)):
            record = bytes(tensor.numpy())
            entry = prediction_log_pb2.PredictionLog()
            try:
                entry.ParseFromString(record)
            except message.DecodeError as err:
                shown = record[:256].decode("utf-8", errors="replace")
                raise InvalidArgument(f"Failed to parse warmup record: {shown} from {path}") from err
            for _ in range(iterations):
                replay_record(servable, entry)
            records += 1
            if records > MAX_RECORDS:
                raise InvalidArgument(
                    f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
                )
    except tf.errors.DataLossError as err:
        raise DataLoss(f"{err.message}. Please verify your warmup data is in TFRecord format.") from err
    except tf.errors.OpError as err:
        raise ServingError.from_code(int(err.error_code), err.message) from err
    return records


def replay_record(servable: Servable, entry: Any) -> None:
    """Run one PredictionLog's request on `servable` (raises the request's ServingError)."""
    import tensorflow as tf

    kind = entry.WhichOneof("log_type")
    if kind is None:
        return
    if kind == "predict_log":
        request = entry.predict_log.request
        inputs = {alias: tf.make_ndarray(proto) for alias, proto in request.inputs.items()}
        servable.predict(request.model_spec.signature_name, inputs, list(request.output_filter))
    elif kind == "classify_log":
        request = entry.classify_log.request
        servable.classify(request.model_spec.signature_name, serialized_examples(request.input))
    elif kind == "regress_log":
        request = entry.regress_log.request
        servable.regress(request.model_spec.signature_name, serialized_examples(request.input))
    elif kind == "multi_inference_log":
        request = entry.multi_inference_log.request
        tasks = [(task.model_spec.signature_name, task.method_name) for task in request.tasks]
        servable.multi_inference(tasks, serialized_examples(request.input))
    else:
        raise Unimplemented(f"Unsupported log_type for warmup: {_LOG_TYPE_NUMBERS.get(kind, kind)}")
