"""A real Prometheus (Debian's 2.42) scrapes a live `tfkit serve` with the kit's committed scrape config and
rules, and what it stores agrees with the traffic the test sent: request counts per model and status,
latency histograms per model, API and transport, batch sizes, model load state. Every Grafana dashboard
panel's query returns data from it, the SLO recording rules evaluate, no alert fires on a healthy server,
and the server's structured log (--tfkit_access_log) tells the same story line by line.

With CI set, a missing `prometheus` binary fails the tests instead of skipping them.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from bench.prometheus import LivePrometheus, dashboard_panels, prometheus_binary, start_prometheus
from serving.grpc.codec import tensor_proto_from_numpy
from tests.conftest import serve_flags
from tests.support.server import LiveServer, start_server

pytestmark = pytest.mark.live

COUNT = ":tensorflow:serving:request_count"
LATENCY = ":tensorflow:serving:request_latency"
REST_ROWS = [1, 2, 3, 4, 1, 2, 3, 4]  # linear REST predicts (rows each)
GRPC_ROWS = [1, 5, 2, 8, 3]  # ctr gRPC Predicts
REGRESS_ROWS = [2, 3]  # linear REST regress (batched too: one input, the serialized examples)
BATCHING = ":tensorflow:serving:batching_session"
# Upstream's batching metrics carry no model label (batching/batching_util.h): totals over all models.
BATCH_SERIES = (
    f"{BATCHING}:input_batch_size_count",
    f"{BATCHING}:input_batch_size_sum",
    f"{BATCHING}:processed_batch_size_count",
    f"{BATCHING}:processed_batch_size_sum",
    f"{BATCHING}:padding_size_sum",
    f"{BATCHING}:wrapped_run_count",
)


@dataclass
class Sent:
    """What the test sent, per (model, status), and the OK ones per (model, API, entrypoint)."""

    status: Counter[tuple[str, str]] = field(default_factory=Counter)
    ok: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # Tasks that entered a batch queue: their input tensors (upstream records each input's rows), the
    # rows over those inputs, and the tasks' rows.
    tasks: int = 0
    task_inputs: int = 0
    input_rows: int = 0
    rows: int = 0

    def batched(self, rows: int, inputs: int) -> None:
        self.tasks += 1
        self.task_inputs += inputs
        self.input_rows += rows * inputs
        self.rows += rows


@dataclass
class Scene:
    server: LiveServer
    prometheus: LivePrometheus
    sent: Sent
    before: dict[tuple[str, ...], float]
    after: dict[tuple[str, ...], float]
    batching_before: dict[str, float]


@pytest.fixture(scope="module")
def scene(artifacts: Path) -> Iterator[Scene]:
    if prometheus_binary() is None:
        message = "prometheus not found (Debian: apt-get install prometheus; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    flags = serve_flags(
        artifacts,
        "--enable_batching=true",
        "--batching_parameters_file=serving/batching.config",
        "--tfkit_access_log=true",
    )
    server = start_server(flags, wait_models=["linear", "ctr"])
    try:
        prometheus = start_prometheus(f"127.0.0.1:{server.rest_port}", interval="1s")
        try:
            settled = time.time()
            prometheus.wait_scraped_after(settled)
            before = prometheus.values(COUNT, ("model_name", "status"))
            batching_before = {name: total(prometheus, name) for name in BATCH_SERIES}
            # Two rounds with a scrape between them: a series born in round 1 has a second, higher sample
            # after round 2, so rate() (and the SLO recording rules built on it) sees every series move.
            sent = Sent()
            send_traffic(server, sent)
            prometheus.wait_scraped_after(time.time())
            send_traffic(server, sent)
            expected_total = sum(before.values()) + sum(sent.status.values())
            prometheus.wait_value(f"sum({COUNT})", expected_total)
            after = prometheus.values(COUNT, ("model_name", "status"))
            yield Scene(server, prometheus, sent, before, after, batching_before)
        finally:
            prometheus.stop()
    finally:
        server.stop()


def send_traffic(server: LiveServer, sent: Sent) -> None:
    """Known traffic over both transports, with client errors (4xx) among it, recorded in `sent`."""
    url = f"{server.rest_url}/v1/models"
    for rows in REST_ROWS:
        r = requests.post(
            f"{url}/linear:predict", json={"instances": [[float(i)] for i in range(rows)]}, timeout=30
        )
        assert r.status_code == 200, r.text
        sent.status["linear", "OK"] += 1
        sent.ok["linear", "predict", "REST"] += 1
        sent.batched(rows, 1)  # linear has one input
    for rows in REGRESS_ROWS:
        body = {"signature_name": "regression", "examples": [{"x": float(i)} for i in range(rows)]}
        r = requests.post(f"{url}/linear:regress", json=body, timeout=30)
        assert r.status_code == 200, r.text
        sent.status["linear", "OK"] += 1
        sent.ok["linear", "regress", "REST"] += 1
        sent.batched(rows, 1)
    too_big = {"instances": [[1.0]] * 129}  # more rows than max_batch_size: rejected before the queue
    assert requests.post(f"{url}/linear:predict", json=too_big, timeout=30).status_code == 400
    sent.status["linear", "INVALID_ARGUMENT"] += 1
    for _ in range(2):
        missing = requests.post(f"{url}/linear/versions/999:predict", json={"instances": [[1.0]]}, timeout=30)
        assert missing.status_code == 404
        sent.status["linear", "NOT_FOUND"] += 1

    rng = np.random.default_rng(0)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for rows in GRPC_ROWS:
            request = ctr_request(rng, rows)
            stub.Predict(request, timeout=30)
            sent.status["ctr", "OK"] += 1
            sent.ok["ctr", "Predict", "GRPC"] += 1
            sent.batched(rows, len(request.inputs))
        bad = ctr_request(rng, 2)
        del bad.inputs["user_id"]
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(bad, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        sent.status["ctr", "INVALID_ARGUMENT"] += 1


def ctr_request(rng: np.random.Generator, rows: int) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ctr"
    inputs = {
        "feature": rng.normal(size=(rows, 121)).astype(np.float32),
        "user_id": rng.integers(0, 1000, size=rows, dtype=np.int64),
        "article_id": rng.integers(0, 1000, size=rows, dtype=np.int64),
    }
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto_from_numpy(array))
    return request


def total(prometheus: LivePrometheus, name: str) -> float:
    """sum(name) over its series; 0 while it has none."""
    return sum(prometheus.values(name, ()).values())


def one(prometheus: LivePrometheus, expr: str) -> float:
    samples = prometheus.query(expr)
    assert len(samples) == 1, (expr, samples)
    return float(samples[0]["value"][1])


def test_the_target_is_up_with_the_committed_job_and_path(scene: Scene) -> None:
    (target,) = scene.prometheus.api("targets")["activeTargets"]
    assert target["health"] == "up", target
    assert target["labels"]["job"] == "tfkit-serving" and target["labels"]["app"] == "tfkit-serving"
    assert target["scrapeUrl"] == f"{scene.server.rest_url}/monitoring/prometheus/metrics"


def test_request_counts_per_model_and_status_match_what_was_sent(scene: Scene) -> None:
    keys = set(scene.after) | set(scene.before)
    delta = {k: scene.after.get(k, 0.0) - scene.before.get(k, 0.0) for k in keys}
    assert {k: v for k, v in delta.items() if v} == {k: float(v) for k, v in scene.sent.status.items()}


def test_latency_histograms_count_ok_requests_per_model_api_and_transport(scene: Scene) -> None:
    by = ("model_name", "API", "entrypoint")
    counts = scene.prometheus.values(f'{LATENCY}_count{{API!=""}}', by)  # REST GETs have API=""
    assert {k: v for k, v in counts.items() if v} == {k: float(v) for k, v in scene.sent.ok.items()}
    for model, api, entrypoint in scene.sent.ok:
        labels = f'model_name="{model}",API="{api}",entrypoint="{entrypoint}"'
        inf = one(scene.prometheus, f'{LATENCY}_bucket{{{labels},le="+Inf"}}')
        assert inf == counts[model, api, entrypoint]
        assert one(scene.prometheus, f"{LATENCY}_sum{{{labels}}}") > 0  # microseconds, as upstream
        p99 = one(scene.prometheus, f"histogram_quantile(0.99, sum by (le) ({LATENCY}_bucket{{{labels}}}))")
        assert math.isfinite(p99) and p99 > 0


def test_batch_sizes_add_up_to_the_rows_sent(scene: Scene) -> None:
    """batching_session.cc / batching_util.h: input_batch_size records each input tensor of each task
    (its 0th dimension), processed_batch_size each merged batch after padding (none configured here),
    wrapped_run_count each run of the merged batch."""
    delta = {name: total(scene.prometheus, name) - scene.batching_before[name] for name in BATCH_SERIES}
    sent = scene.sent
    assert delta[f"{BATCHING}:input_batch_size_count"] == sent.task_inputs
    assert delta[f"{BATCHING}:input_batch_size_sum"] == sent.input_rows
    assert delta[f"{BATCHING}:processed_batch_size_sum"] == sent.rows
    assert delta[f"{BATCHING}:padding_size_sum"] == 0
    batches = delta[f"{BATCHING}:processed_batch_size_count"]
    assert 1 <= batches <= sent.tasks
    assert delta[f"{BATCHING}:wrapped_run_count"] == batches


def test_model_load_state(scene: Scene) -> None:
    loaded = scene.prometheus.values(":tfkit:serving:loaded_versions", ("model_name",))
    assert loaded == {("linear",): 1.0, ("ctr",): 1.0}  # models.config: latest 1
    attempts = scene.prometheus.values(
        ":tensorflow:cc:saved_model:load_attempt_count", ("model_path", "status")
    )
    assert {status for _, status in attempts} == {"success"}
    assert {Path(path).parent.name for path, _ in attempts} == {"linear", "ctr"}


def test_slo_rules_evaluate_and_no_alert_fires_on_a_healthy_server(scene: Scene) -> None:
    prometheus = scene.prometheus
    groups = prometheus.api("rules")["groups"]
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert unhealthy == []

    def recorded() -> bool:
        """Both models' ratios and p99s are numbers: a rule evaluation has seen the traffic (before it
        they are NaN, 0/0), even if it ran just before the last scrape landed."""
        errors = prometheus.values("tfkit:request_errors:ratio_rate5m", ("model_name",))
        p99 = prometheus.values("tfkit:request_latency_us:p99_rate5m", ("model_name",))
        finite = all(math.isfinite(v) for v in [*errors.values(), *p99.values()])
        return finite and set(errors) == set(p99) == {("linear",), ("ctr",)}

    prometheus.wait("the recording rules over the traffic", recorded)
    # Only client errors (400 / 404) were sent: they do not spend the availability budget.
    assert prometheus.values("tfkit:request_errors:ratio_rate5m", ("model_name",)) == {
        ("linear",): 0.0,
        ("ctr",): 0.0,
    }
    alerts = prometheus.api("alerts")["alerts"]
    assert [a["labels"]["alertname"] for a in alerts if a["labels"]["alertname"].startswith("Tfkit")] == []


def test_every_dashboard_panel_query_returns_data(scene: Scene) -> None:
    empty = [
        (panel.title, expr)
        for panel in dashboard_panels(rate_interval="1m")
        for expr, _ in panel.targets
        if not scene.prometheus.query(expr)
    ]
    assert empty == []


def log_events(server: LiveServer) -> list[dict[str, Any]]:
    events = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_structured_log_joins_with_the_metrics(scene: Scene) -> None:
    events = log_events(scene.server)
    available = {
        (e["model"], e["version"])
        for e in events
        if e["event"] == "model_version" and e["state"] == "AVAILABLE"
    }
    assert {model for model, _ in available} == {"linear", "ctr"}
    assert any(e["event"] == "config_reload" and e["models"] == ["ctr", "linear"] for e in events)
    inference = Counter(
        (e["model"], e["status"])
        for e in events
        if e["event"] == "request" and e["api"].lower() in {"predict", "regress"}
    )
    assert inference == scene.sent.status  # one access-log line per request the metrics counted


def test_drain_and_stop_are_logged(scene: Scene) -> None:
    assert scene.server.stop() == 0
    names = [e["event"] for e in log_events(scene.server)]
    assert names[-2:] == ["drain", "stopped"]
