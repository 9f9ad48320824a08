"""serving.metrics: metric names, labels, buckets and text exactly as tensorflow_model_server prints them.

Sources: servables/tensorflow/util.cc (request_count, request_latency, runtime_latency,
request_example_counts), batching/batching_session.cc + batching/batching_util.h (batching_session
metrics), servables/tensorflow/saved_model_warmup_util.cc (model_warmup_latency) and
util/prometheus_exporter.cc (SerializeHistogram / SerializeScalar: the text format).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import (
    BATCH_SIZE_BUCKETS,
    EXAMPLE_COUNT_BUCKETS,
    LATENCY_BUCKETS_US,
    QUEUE_BUCKETS_US,
    Metrics,
    double_text,
)

POOL = '{thread_pool_name="model_server_batch_threads"}'
WARMUP = ":tensorflow:serving:model_warmup_latency_count"


def lines(metrics: Metrics) -> list[str]:
    return metrics.render().decode().splitlines()


def sample(text_lines: list[str], series: str) -> str:
    (line,) = [line for line in text_lines if line.startswith(series + " ")]
    return line.rsplit(" ", 1)[1]


def test_request_count_and_latency_names_labels_and_integer_microseconds() -> None:
    """util.cc: request_count{model_name,status}; request_latency{model_name,API,entrypoint}, OK only
    (http_server.cc / prediction_service_impl.cc record latency only for an OK status)."""
    m = Metrics()
    m.observe_request("ctr", "predict", "REST", "OK", 0.002)
    m.observe_request("ctr", "Predict", "GRPC", "OK", 0.0010004)
    m.observe_request("ctr", "predict", "REST", "NOT_FOUND", 0.5)
    text = lines(m)
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert sample(text, ':tensorflow:serving:request_count{model_name="ctr",status="OK"}') == "2"
    assert sample(text, ':tensorflow:serving:request_count{model_name="ctr",status="NOT_FOUND"}') == "1"
    rest = ':tensorflow:serving:request_latency_sum{model_name="ctr",API="predict",entrypoint="REST"}'
    assert sample(text, rest) == "2000"
    grpc = ':tensorflow:serving:request_latency_sum{model_name="ctr",API="Predict",entrypoint="GRPC"}'
    assert sample(text, grpc) == "1000"  # NowMicros() differences: whole microseconds
    assert sample(text, grpc.replace("_sum", "_count")) == "1"


def test_bucket_limits_print_as_absl_strcat_and_last_is_inf() -> None:
    """prometheus_exporter.cc prints each limit with absl::StrCat(double) (six significant digits) and
    the last (DBL_MAX) bucket as +Inf; Buckets::Exponential(10, 1.8, 33) in util.cc."""
    m = Metrics()
    m.observe_runtime("m", "Predict", 0.0)
    text = lines(m)
    buckets = [line for line in text if line.startswith(":tensorflow:serving:runtime_latency_bucket")]
    assert len(buckets) == 34
    prefix = ':tensorflow:serving:runtime_latency_bucket{model_name="m",API="Predict",runtime="TF1",'
    assert buckets[0] == prefix + 'le="10"} 1'
    assert [b[len(prefix) :].split("}")[0] for b in buckets[1:6]] == [
        'le="18"',
        'le="32.4"',
        'le="58.32"',
        'le="104.976"',
        'le="188.957"',
    ]
    assert buckets[-1] == prefix + 'le="+Inf"} 1'
    assert 'le="1.27482e+06"' in buckets[20]
    assert double_text(LATENCY_BUCKETS_US[-1]) == "1.47476e+09"


def test_histogram_value_on_a_limit_counts_in_the_next_bucket() -> None:
    """TF's Histogram::Add uses upper_bound: a value equal to a limit lands in the following bucket."""
    m = Metrics()
    m.observe_runtime("m", "Predict", 10e-6)
    text = lines(m)
    prefix = ':tensorflow:serving:runtime_latency_bucket{model_name="m",API="Predict",runtime="TF1",'
    assert sample(text, prefix + 'le="10"}') == "0"
    assert sample(text, prefix + 'le="18"}') == "1"


def test_bucket_layouts_match_upstream() -> None:
    assert len(LATENCY_BUCKETS_US) == 33 and LATENCY_BUCKETS_US[0] == 10
    assert len(QUEUE_BUCKETS_US) == 52 and QUEUE_BUCKETS_US[0] == 100  # batching_session.cc
    assert tuple(float(2**i) for i in range(14)) == BATCH_SIZE_BUCKETS  # batching_util.h
    assert tuple(float(2**i) for i in range(15)) == EXAMPLE_COUNT_BUCKETS  # util.cc


def test_text_format_is_the_exporters() -> None:
    """SerializeScalar / SerializeHistogram: `# TYPE` lines only, integers for counters, `{}` for a
    metric without labels, metrics sorted by their upstream path."""
    m = Metrics()
    m.observe_wrapped_run()
    m.observe_batch(8, 3)
    m.observe_input_batch(5)
    text = lines(m)
    assert not [line for line in text if line.startswith("# HELP")]
    assert sample(text, ":tensorflow:serving:batching_session:wrapped_run_count{}") == "1"
    assert sample(text, ":tensorflow:serving:batching_session:processed_batch_size_sum{}") == "8"
    assert sample(text, ':tensorflow:serving:batching_session:processed_batch_size_bucket{le="8"}') == "0"
    assert sample(text, ':tensorflow:serving:batching_session:processed_batch_size_bucket{le="16"}') == "1"
    padding = ':tensorflow:serving:batching_session:padding_size_count{execution_batch_size="8"}'
    assert sample(text, padding) == "1"
    assert sample(text, ":tensorflow:serving:batching_session:input_batch_size_sum{}") == "5"
    types = [line.split(" ")[2] for line in text if line.startswith("# TYPE ")]
    assert types[0].startswith(":tensorflow:cc:saved_model:")
    assert types.index(":tensorflow:serving:batching_session:input_batch_size") < types.index(
        ":tensorflow:serving:request_count"
    )


def test_page_parses_as_prometheus_text_with_every_family() -> None:
    m = Metrics()
    m.observe_request("ctr", "classify", "REST", "OK", 0.001)
    m.observe_runtime("ctr", "Classify", 0.0005)
    m.observe_examples("ctr", 3)
    m.observe_queue(0.0002)
    m.observe_input_batch(3)
    m.observe_batch(4, 1)
    m.observe_wrapped_run()
    m.observe_load("ctr", 1, 2.0, ok=True)
    m.observe_load("ctr", 2, 0.1, ok=False)
    m.set_loaded_versions("ctr", 2)
    m.observe_warmup("/models/ctr/1", records=5, seconds=0.01, status="OK")
    list(text_string_to_metric_families(m.render().decode()))  # valid Prometheus text
    names = {line.split(" ")[2] for line in lines(m) if line.startswith("# TYPE ")}
    assert {
        ":tensorflow:serving:request_count",
        ":tensorflow:serving:request_latency",
        ":tensorflow:serving:runtime_latency",
        ":tensorflow:serving:request_example_counts",
        ":tensorflow:serving:request_example_count_total",
        ":tensorflow:serving:batching_session:queuing_latency",
        ":tensorflow:serving:batching_session:wrapped_run_count",
        ":tensorflow:serving:batching_session:input_batch_size",
        ":tensorflow:serving:batching_session:processed_batch_size",
        ":tensorflow:serving:batching_session:padding_size",
        ":tensorflow:cc:saved_model:load_attempt_count",
        ":tensorflow:cc:saved_model:load_latency",
        ":tensorflow:serving:model_warmup_latency",
        ":tfkit:serving:model_warmup_records_read",
        ":tfkit:serving:loaded_versions",
    } <= names
    text = lines(m)
    assert sample(text, ':tfkit:serving:loaded_versions{model_name="ctr"}') == "2"
    assert sample(text, ':tensorflow:cc:saved_model:load_latency{model_path="ctr/1"}') == "2000000"
    attempts = ':tensorflow:cc:saved_model:load_attempt_count{model_path="ctr/2",status="fail"}'
    assert sample(text, attempts) == "1"
    assert sample(text, ':tensorflow:serving:request_example_count_total{model="ctr"}') == "3"
    queue = ":tensorflow:serving:batching_session:queuing_latency_count" + POOL
    assert sample(text, queue) == "1"


def test_warmup_status_label_is_the_status_text() -> None:
    """saved_model_warmup_util.cc labels model_warmup_latency with Status::ToString()."""
    m = Metrics()
    m.observe_warmup("/m/1", 2, 0.5, "OK")
    m.observe_warmup("/m/2", 0, 0.5, "DATA_LOSS: corrupted record at 0")
    text = lines(m)
    assert sample(text, WARMUP + '{model_path="/m/1",status="OK"}') == "1"
    assert sample(text, WARMUP + '{model_path="/m/2",status="DATA_LOSS: corrupted record at 0"}') == "1"


def test_label_values_are_escaped_as_upstream() -> None:
    """SanitizeLabelValue: backslash and double quote escaped."""
    m = Metrics()
    m.observe_request('a"b\\c', "predict", "REST", "NOT_FOUND", 0.1)
    assert (
        sample(lines(m), ':tensorflow:serving:request_count{model_name="a\\"b\\\\c",status="NOT_FOUND"}')
        == "1"
    )


def test_registries_are_private_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.observe_request("x", "predict", "REST", "OK", 0.001)
    assert 'model_name="x"' in a.render().decode()
    assert 'model_name="x"' not in b.render().decode()
