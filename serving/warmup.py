"""Replay `assets.extra/tf_serving_warmup_requests` while a version loads (contract §4).

The file is an uncompressed TFRecord of serialized `tensorflow.serving.PredictionLog`s. Each record's
request runs on the servable being loaded (the model name/version inside are not used for routing)
`iterations` times. Limits and failures follow saved_model_warmup_util.cc: a missing file is fine; more
than 1000 records, a corrupt file, an unparseable record, an unsupported log type or a failing request
fail the load with the upstream status.

Requests are decoded as the gRPC servicer decodes them (serving.grpc.messages: the kit's one
TensorProto decoder) and run as saved_model_warmup.cc's RunWarmupRequest does, recording what those runs
record upstream: `runtime_latency` (runtime "TF1") under the record's model name for Predict, Classify
and Regress, `request_example_counts` for MultiInference. `model_warmup_latency{model_path,status}` is
recorded as upstream's single-threaded loop does: with status `OK` when the file was read to its end,
with the read error's status text (`DATA_LOSS: ...`) when reading failed, not at all when a record
fails to parse or run or the record limit is passed (upstream returns before recording).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from serving.examples import serialized_examples
from serving.grpc.messages import tensors_from_protos
from serving.metrics import Metrics
from serving.servable import Servable
from serving.status import Code, DataLoss, InvalidArgument, ServingError, Unimplemented

T = TypeVar("T")

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
    records, read_error = _replay(servable, path, max(1, iterations), metrics)
    status = "OK" if read_error is None else f"{read_error.code.name}: {read_error.message}"
    if metrics is not None:
        metrics.observe_warmup(servable.path, records, time.monotonic() - started, status)
    if read_error is not None:
        if read_error.code == Code.DATA_LOSS:
            raise DataLoss(f"{read_error.message}. Please verify your warmup data is in TFRecord format.")
        raise read_error
    log.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, records
    )
    return records


def _replay(
    servable: Servable, path: Path, iterations: int, metrics: Metrics | None
) -> tuple[int, ServingError | None]:
    """(records replayed, the read error that ended the file early or None at its end); a record that
    does not parse or run, or one record too many, raises at once."""
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
                replay_record(servable, entry, metrics)
            records += 1
            if records > MAX_RECORDS:
                raise InvalidArgument(
                    f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
                )
    except tf.errors.OpError as err:
        return records, ServingError.from_code(int(err.error_code), err.message)
    return records, None


def _timed(metrics: Metrics | None, model: str, api: str, fn: Callable[..., T], *args: Any) -> T:
    started = time.perf_counter()
    result = fn(*args)
    if metrics is not None:
        metrics.observe_runtime(model, api, time.perf_counter() - started)
    return result


def replay_record(servable: Servable, entry: Any, metrics: Metrics | None = None) -> None:
    """Run one PredictionLog's request on `servable` (raises the request's ServingError)."""
    kind = entry.WhichOneof("log_type")
    if kind is None:
        return
    if kind == "predict_log":
        request = entry.predict_log.request
        inputs = tensors_from_protos(request.inputs)
        runner = servable.prepare_predict(
            request.model_spec.signature_name, inputs, list(request.output_filter)
        )
        _timed(metrics, request.model_spec.name, "Predict", runner.run, inputs)
    elif kind == "classify_log":
        request = entry.classify_log.request
        examples = serialized_examples(request.input)
        _timed(
            metrics,
            request.model_spec.name,
            "Classify",
            servable.classify,
            request.model_spec.signature_name,
            examples,
        )
    elif kind == "regress_log":
        request = entry.regress_log.request
        examples = serialized_examples(request.input)
        _timed(
            metrics,
            request.model_spec.name,
            "Regress",
            servable.regress,
            request.model_spec.signature_name,
            examples,
        )
    elif kind == "multi_inference_log":
        request = entry.multi_inference_log.request
        tasks = [(task.model_spec.signature_name, task.method_name) for task in request.tasks]
        examples = serialized_examples(request.input)
        servable.multi_inference(tasks, examples)
        if metrics is not None:
            name = request.tasks[0].model_spec.name if request.tasks else ""
            metrics.observe_examples(name, len(examples))
    else:
        raise Unimplemented(f"Unsupported log_type for warmup: {_LOG_TYPE_NUMBERS.get(kind, kind)}")
