"""Live `tfkit serve --enable_batching`: merged batches return each caller its own rows (REST and gRPC,
Predict and Classify: upstream batches every SignatureDef), overload gets UNAVAILABLE / 503 with the
upstream text and the server keeps serving."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

from serving.grpc.codec import numpy_from_tensor_proto, tensor_proto_from_numpy
from tests.conftest import serve_flags
from tests.support.server import REPO, LiveServer, running_server

pytestmark = pytest.mark.live

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"
Tensors = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def ctr_rows(artifacts: Path) -> Tensors:
    from export.samples import sample_inputs

    return sample_inputs("ctr", artifacts, n=192, seed=7)


@pytest.fixture(scope="module")
def batching_server(artifacts: Path) -> Iterator[LiveServer]:
    """The kit's own batching config, as `make serve` runs it."""
    flags = serve_flags(
        artifacts, "--enable_batching=true", f"--batching_parameters_file={REPO / 'serving/batching.config'}"
    )
    with running_server(flags, wait_models=["linear", "ctr"]) as server:
        yield server


def chunks(rows: Tensors, sizes: list[int]) -> list[Tensors]:
    out, start = [], 0
    for size in sizes:
        out.append({name: value[start : start + size] for name, value in rows.items()})
        start += size
    return out


def rest_predict(
    server: LiveServer, inputs: Tensors, session: requests.Session | None = None
) -> requests.Response:
    body = {"inputs": {name: value.tolist() for name, value in inputs.items()}}
    return (session or requests).post(f"{server.rest_url}/v1/models/ctr:predict", json=body, timeout=60)


def grpc_predict(stub: Any, inputs: Tensors) -> np.ndarray:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ctr"
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto_from_numpy(value))
    response = stub.Predict(request, timeout=60)
    return numpy_from_tensor_proto(response.outputs["probability"])


def parallel(fn: Callable[[Tensors], Any], requests_: list[Tensors], workers: int = 32) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, requests_))


def scrape(server: LiveServer) -> str:
    return requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10).text


def metric(text: str, series: str) -> float:
    match = re.search(re.escape(series) + r" (\S+)", text)
    return float(match.group(1)) if match else 0.0


def batch_count(server: LiveServer) -> float:
    """Merged batches run (batching_session.cc wrapped_run_count; only ctr gets traffic here)."""
    return metric(scrape(server), ":tensorflow:serving:batching_session:wrapped_run_count{}")


def test_rest_concurrent_requests_get_their_own_rows(batching_server: LiveServer, ctr_rows: Tensors) -> None:
    sizes = [1 + i % 3 for i in range(96)]  # 192 rows in 96 requests of 1-3 rows
    parts = chunks(ctr_rows, sizes)
    session = requests.Session()
    expected = []
    for part in parts:  # one at a time: each request is its own batch
        r = rest_predict(batching_server, part, session)
        assert r.status_code == 200, r.text
        expected.append(np.asarray(r.json()["outputs"], dtype=np.float32))
    before = batch_count(batching_server)
    responses = parallel(lambda part: rest_predict(batching_server, part), parts)
    merged_batches = batch_count(batching_server) - before
    for part, got, want in zip(parts, responses, expected, strict=True):
        assert got.status_code == 200, got.text
        outputs = np.asarray(got.json()["outputs"], dtype=np.float32)
        assert outputs.shape == (len(part["user_id"]), 1)
        np.testing.assert_allclose(outputs, want, rtol=1e-5, atol=1e-6)
    assert 0 < merged_batches < len(parts), "concurrent requests were never merged into one batch"


def test_grpc_concurrent_requests_get_their_own_rows(batching_server: LiveServer, ctr_rows: Tensors) -> None:
    sizes = [3 - i % 3 for i in range(96)]
    parts = chunks(ctr_rows, sizes)
    with grpc.insecure_channel(batching_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        expected = [grpc_predict(stub, part) for part in parts]
        before = batch_count(batching_server)
        got = parallel(lambda part: grpc_predict(stub, part), parts)
        merged_batches = batch_count(batching_server) - before
    for part, outputs, want in zip(parts, got, expected, strict=True):
        assert outputs.shape == (len(part["user_id"]), 1)
        np.testing.assert_allclose(outputs, want, rtol=1e-5, atol=1e-6)
    assert 0 < merged_batches < len(parts), "concurrent requests were never merged into one batch"


def test_grpc_classify_is_batched_and_each_caller_gets_its_results(
    batching_server: LiveServer, artifacts: Path
) -> None:
    from export.samples import sample_examples

    examples = sample_examples(artifacts, n=48, seed=3)
    groups = [examples[i : i + 2] for i in range(0, len(examples), 2)]

    def classify(stub: Any, group: list[bytes]) -> list[list[tuple[str, float]]]:
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = "ctr"
        request.model_spec.signature_name = "classification"
        for serialized in group:
            request.input.example_list.examples.add().ParseFromString(serialized)
        result = stub.Classify(request, timeout=60).result
        return [[(c.label, c.score) for c in item.classes] for item in result.classifications]

    with grpc.insecure_channel(batching_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        expected = [classify(stub, group) for group in groups]
        before_text = scrape(batching_server)
        got = parallel(lambda group: classify(stub, group), groups, workers=24)
    after_text = scrape(batching_server)
    for want, have in zip(expected, got, strict=True):
        assert [[label for label, _ in item] for item in have] == [["0", "1"]] * 2
        np.testing.assert_allclose(
            [[s for _, s in i] for i in have], [[s for _, s in i] for i in want], rtol=1e-5
        )
    merged = metric(after_text, ":tensorflow:serving:batching_session:wrapped_run_count{}") - metric(
        before_text, ":tensorflow:serving:batching_session:wrapped_run_count{}"
    )
    assert 0 < merged < len(groups), "concurrent Classify requests were never merged into one batch"
    runtime = ':tensorflow:serving:runtime_latency_count{model_name="ctr",API="Classify",runtime="TF1"}'
    assert metric(after_text, runtime) - metric(before_text, runtime) == len(groups)


def test_request_larger_than_max_batch_size_is_rejected(
    batching_server: LiveServer, ctr_rows: Tensors
) -> None:
    big = {name: np.concatenate([value, value[:1]]) for name, value in ctr_rows.items()}  # 193 > 128 rows
    r = rest_predict(batching_server, big)
    assert r.status_code == 400
    assert "Task size 193 is larger than maximum input batch size 128" in r.json()["error"]
    with grpc.insecure_channel(batching_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            grpc_predict(stub, big)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 193 is larger than maximum input batch size 128" in (err.value.details() or "")


@pytest.fixture(scope="module")
def tiny_queue_server(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One batch thread, one queued batch of at most 4 rows: easy to overload."""
    config = tmp_path_factory.mktemp("batching") / "tiny.config"
    config.write_text(
        "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1 }\nnum_batch_threads { value: 1 }\n"
    )
    flags = serve_flags(artifacts, "--enable_batching", f"--batching_parameters_file={config}")
    with running_server(flags, wait_models=["ctr"]) as server:
        yield server


def test_rest_overload_gets_503_with_upstream_text_and_server_keeps_serving(
    tiny_queue_server: LiveServer, ctr_rows: Tensors
) -> None:
    parts = chunks(ctr_rows, [4] * 48)  # every request fills a batch: the third in flight overflows
    statuses: list[int] = []
    for _ in range(10):  # storms until one overflows (bounded; each storm is 48 parallel requests)
        responses = parallel(lambda part: rest_predict(tiny_queue_server, part), parts, workers=48)
        for r in responses:
            assert r.status_code in (200, 503), r.text
            if r.status_code == 503:
                assert r.json() == {"error": QUEUE_FULL}
        statuses += [r.status_code for r in responses]
        if 503 in statuses:
            break
    assert 503 in statuses, "48 parallel full-batch requests never overflowed a one-batch queue"
    assert 200 in statuses
    after = rest_predict(tiny_queue_server, parts[0])
    assert after.status_code == 200, after.text


def test_grpc_overload_gets_unavailable_with_upstream_text(
    tiny_queue_server: LiveServer, ctr_rows: Tensors
) -> None:
    parts = chunks(ctr_rows, [4] * 48)
    codes: list[grpc.StatusCode] = []

    with grpc.insecure_channel(tiny_queue_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def call(part: Tensors) -> grpc.StatusCode:
            try:
                grpc_predict(stub, part)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
                assert exc.details() == QUEUE_FULL
                return grpc.StatusCode.UNAVAILABLE
            return grpc.StatusCode.OK

        for _ in range(10):
            codes += parallel(call, parts, workers=48)
            if grpc.StatusCode.UNAVAILABLE in codes:
                break
        assert grpc.StatusCode.UNAVAILABLE in codes
        assert grpc.StatusCode.OK in codes
        assert grpc_predict(stub, parts[0]).shape == (4, 1)
