"""Metric values against a fresh `tfkit serve` of its own: exact counts, not "the name appears somewhere".

The shared contract server has taken every other case's traffic, so a count read there proves little.
This test starts a server that has served nothing, sends a known mix over both transports and checks
`:tensorflow:serving:request_count{model_name,status}` moved by exactly that mix. Upstream counts every
REST request in http_server.cc (RecordModelRequestCount after ProcessRequest) and gRPC Predict, Classify
and Regress in prediction_service_impl.cc (name and labels: servables/tensorflow/util.cc).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import serve_flags
from tests.support.server import LiveServer, running_server

pytestmark = [pytest.mark.live]

METRICS_PATH = "/monitoring/prometheus/metrics"  # serving/monitoring.config
COUNT = ":tensorflow:serving:request_count"


@pytest.fixture(scope="module")
def fresh(artifacts: Path) -> Iterator[LiveServer]:
    with running_server(serve_flags(artifacts), wait_models=["linear", "ctr"]) as server:
        yield server


def counts(server: LiveServer) -> dict[tuple[str, str], float]:
    response = requests.get(server.rest_url + METRICS_PATH, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in (COUNT, COUNT + "_total"):  # the parser appends _total to counters
                out[(sample.labels["model_name"], sample.labels["status"])] = sample.value
    return out


def test_request_count_moves_by_exactly_the_traffic_sent(fresh: LiveServer) -> None:
    from clients.errors import ServingError
    from clients.grpc import GrpcClient

    before = counts(fresh)
    # a fresh server has counted only the launcher's readiness polls (GET status: OK, or NOT_FOUND early)
    assert {status for _, status in before} <= {"OK", "NOT_FOUND"} and max(before.values()) < 1000, before
    url = f"{fresh.rest_url}/v1/models/linear:predict"
    for _ in range(3):
        assert requests.post(url, json={"instances": [[1.0]]}, timeout=30).status_code == 200
    assert requests.post(url, json={"instances": [["a"]]}, timeout=30).status_code == 400
    with GrpcClient(fresh.grpc_target, timeout=30) as client:
        client.predict("linear", {"x": np.asarray([[1.0], [2.0]], dtype=np.float32)})
        for _ in range(2):
            with pytest.raises(ServingError):
                client.predict("linear", {"x": np.asarray([[1.0]], dtype=np.float32)}, version=999999)
    after = counts(fresh)
    delta = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    assert delta == {("linear", "OK"): 4.0, ("linear", "INVALID_ARGUMENT"): 1.0, ("linear", "NOT_FOUND"): 2.0}
