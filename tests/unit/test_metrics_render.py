"""serving.metrics: TF Serving metric names and labels, valid Prometheus text, units in microseconds."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import Metrics


def families(metrics: Metrics) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(metrics.render().decode())}


def sample_value(text: str, line_start: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


def test_request_count_and_latency_use_upstream_names_labels_and_microseconds() -> None:
    m = Metrics()
    m.observe_request("ctr", "predict", "REST", "OK", 0.002)
    m.observe_request("ctr", "Predict", "GRPC", "OK", 0.001)
    m.observe_request("ctr", "predict", "REST", "NOT_FOUND", 0.5)
    text = m.render().decode()
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert sample_value(text, ':tensorflow:serving:request_count{model_name="ctr",status="OK"}') == 2
    assert sample_value(text, ':tensorflow:serving:request_count{model_name="ctr",status="NOT_FOUND"}') == 1
    # Latency counts successful requests only, in microseconds.
    rest = ':tensorflow:serving:request_latency_sum{API="predict",entrypoint="REST",model_name="ctr"}'
    assert sample_value(text, rest) == 2000.0
    grpc = ':tensorflow:serving:request_latency_count{API="Predict",entrypoint="GRPC",model_name="ctr"}'
    assert sample_value(text, grpc) == 1


def test_counters_keep_upstream_names_and_created_series_are_dropped() -> None:
    m = Metrics()
    m.observe_request("linear", "predict", "REST", "OK", 0.001)
    m.observe_load("linear", 3, 1.5, ok=True)
    m.observe_load("linear", 4, 0.1, ok=False)
    text = m.render().decode()
    assert "_total" not in text and "_created" not in text
    assert sample_value(text, ':tensorflow:cc:saved_model:load_latency{model_path="linear/3"}') == 1_500_000
    assert (
        sample_value(
            text, ':tensorflow:cc:saved_model:load_attempt_count{model_path="linear/4",status="fail"}'
        )
        == 1
    )


def test_render_is_valid_prometheus_text_with_every_family() -> None:
    m = Metrics()
    m.observe_request("ctr", "classify", "REST", "OK", 0.001)
    m.observe_runtime("ctr", "classify", 0.0005)
    m.observe_task("ctr", 3, 0.0002)
    m.observe_batch("ctr", 3, 0.0002, padding=1)
    m.observe_load("ctr", 1, 2.0, ok=True)
    m.set_loaded_versions("ctr", 2)
    m.observe_warmup("/models/ctr/1", records=5, seconds=0.01, ok=True)
    names = set(families(m))
    assert {
        ":tensorflow:serving:request_count",
        ":tensorflow:serving:request_latency",
        ":tensorflow:serving:runtime_latency",
        ":tensorflow:serving:batching_session:queuing_latency",
        ":tensorflow:serving:batching:input_batch_size",
        ":tensorflow:serving:batching:processed_batch_size",
        ":tensorflow:serving:batching:padding_size",
        ":tensorflow:cc:saved_model:load_attempt_count",
        ":tensorflow:cc:saved_model:load_latency",
        ":tensorflow:serving:model_warmup_latency",
        ":tensorflow:serving:model_warmup_records_read",
        ":tfkit:serving:loaded_versions",
    } <= names
    text = m.render().decode()
    assert sample_value(text, ':tfkit:serving:loaded_versions{model_name="ctr"}') == 2
    assert sample_value(text, ':tensorflow:serving:batching:processed_batch_size_sum{model_name="ctr"}') == 4
    assert (
        sample_value(
            text, ':tensorflow:serving:model_warmup_records_read{model_path="/models/ctr/1",status="OK"}'
        )
        == 5
    )


def test_registries_are_private_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.observe_request("x", "predict", "REST", "OK", 0.001)
    assert 'model_name="x"' in a.render().decode()
    assert 'model_name="x"' not in b.render().decode()
