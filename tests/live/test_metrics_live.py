"""Live metrics: Prometheus text at the monitoring config's path on the REST port, after real traffic,
counted as upstream counts it (model_servers/http_server.cc for REST, prediction_service_impl.cc for
gRPC, servables/tensorflow/util.cc and predict_util.cc for the names, labels and runtime latency)."""

from __future__ import annotations

import re

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.grpc.codec import tensor_proto_from_numpy
from tests.support.server import LiveServer

pytestmark = pytest.mark.live

PATH = "/monitoring/prometheus/metrics"  # serving/monitoring.config


def scrape(server: LiveServer) -> str:
    r = requests.get(f"{server.rest_url}{PATH}", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def value(text: str, pattern: str) -> float:
    match = re.search(re.escape(pattern) + r" (\S+)", text)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_per_model_api_and_status(live_server: LiveServer) -> None:
    import numpy as np

    before = scrape(live_server)
    ok = ':tensorflow:serving:request_count{model_name="linear",status="OK"}'
    missing = ':tensorflow:serving:request_count{model_name="nope",status="NOT_FOUND"}'
    rest_latency = (
        ':tensorflow:serving:request_latency_count{model_name="linear",API="predict",entrypoint="REST"}'
    )
    grpc_latency = (
        ':tensorflow:serving:request_latency_count{model_name="linear",API="Predict",entrypoint="GRPC"}'
    )
    url = f"{live_server.rest_url}/v1/models/linear:predict"
    for _ in range(3):
        assert requests.post(url, json={"instances": [[1.0], [2.0]]}, timeout=30).status_code == 200
    assert (
        requests.post(f"{live_server.rest_url}/v1/models/nope:predict", json={"instances": [1.0]}).status_code
        == 404
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "linear"
    request.inputs["x"].CopyFrom(tensor_proto_from_numpy(np.array([[1.0]], dtype=np.float32)))
    with grpc.insecure_channel(live_server.grpc_target) as channel:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)

    after = scrape(live_server)
    assert value(after, ok) - value(before, ok) == 4
    assert value(after, missing) - value(before, missing) == 1
    assert value(after, rest_latency) - value(before, rest_latency) == 3
    assert value(after, grpc_latency) - value(before, grpc_latency) == 1
    # Latency is in microseconds, as upstream: a real predict takes more than 1 us and less than 60 s.
    total_us = value(after, rest_latency.replace("_count", "_sum")) - value(
        before, rest_latency.replace("_count", "_sum")
    )
    assert 3 < total_us < 3 * 60_000_000


def test_grpc_counts_only_predict_classify_regress_and_rest_get_has_an_empty_api(
    live_server: LiveServer,
) -> None:
    """prediction_service_impl.cc records request_count/latency in Predict, Classify and Regress only;
    http_server.cc records every REST request, with API = the captured verb ("" for a GET)."""
    import numpy as np

    ok = ':tensorflow:serving:request_count{model_name="linear",status="OK"}'
    rest_get = ':tensorflow:serving:request_latency_count{model_name="linear",API="",entrypoint="REST"}'
    runtime = ':tensorflow:serving:runtime_latency_count{model_name="linear",API="Predict",runtime="TF1"}'
    before = scrape(live_server)
    with grpc.insecure_channel(live_server.grpc_target) as channel:
        metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata.model_spec.name = "linear"
        prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(metadata, timeout=30)
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "linear"
        model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=30)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "linear"
        request.inputs["x"].CopyFrom(tensor_proto_from_numpy(np.array([[1.0]], dtype=np.float32)))
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert requests.get(f"{live_server.rest_url}/v1/models/linear", timeout=10).status_code == 200
    after = scrape(live_server)
    assert value(after, ok) - value(before, ok) == 2  # the gRPC Predict and the REST GET
    assert value(after, rest_get) - value(before, rest_get) == 1
    assert value(after, runtime) - value(before, runtime) == 1


def test_metrics_text_is_the_upstream_exporters(live_server: LiveServer) -> None:
    """util/prometheus_exporter.cc: `# TYPE` lines only, buckets printed as absl::StrCat(double)."""
    text = scrape(live_server)
    assert "# HELP" not in text
    assert re.search(r':tensorflow:serving:request_latency_bucket\{[^}]*le="32\.4"\} \d+\n', text)
    assert re.search(r':tensorflow:serving:request_latency_bucket\{[^}]*le="1\.27482e\+06"\} \d+\n', text)


def test_metrics_report_model_loads_and_loaded_versions(live_server: LiveServer) -> None:
    text = scrape(live_server)
    families = {family.name for family in text_string_to_metric_families(text)}
    assert ":tensorflow:cc:saved_model:load_attempt_count" in families
    assert ":tensorflow:cc:saved_model:load_latency" in families
    for model in ("linear", "ctr"):
        assert value(text, f':tfkit:serving:loaded_versions{{model_name="{model}"}}') >= 1
    assert re.search(
        r':tensorflow:cc:saved_model:load_attempt_count\{model_path="[^"]*ctr[^"]*",status="success"\}', text
    )


def test_metrics_path_is_exact_and_only_on_rest(live_server: LiveServer) -> None:
    assert requests.get(f"{live_server.rest_url}{PATH}/extra", timeout=10).status_code == 404
    assert requests.get(f"{live_server.rest_url}/metrics", timeout=10).status_code == 404
    assert requests.get(f"{live_server.rest_url}{PATH}?a=b", timeout=10).status_code == 400
