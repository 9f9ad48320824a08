"""Prometheus metrics of `tfkit serve`, named, labelled, bucketed and printed as tensorflow_model_server does.

Upstream registers TF monitoring metrics under paths such as `/tensorflow/serving/request_count` and its
exporter (util/prometheus_exporter.cc) prints them with every character outside `[a-zA-Z0-9_]` turned
into `:`. The metrics, their labels and buckets come from the upstream sources named below:

    :tensorflow:serving:request_count{model_name,status}            counter    servables/tensorflow/util.cc
    :tensorflow:serving:request_latency{model_name,API,entrypoint}  histogram  util.cc, 10us * 1.8^i x 33
    :tensorflow:serving:runtime_latency{model_name,API,runtime}     histogram  util.cc, runtime "TF1"
    :tensorflow:serving:request_example_counts{model}               histogram  util.cc, 1 * 2^i x 15
    :tensorflow:serving:request_example_count_total{model}          counter    util.cc (MultiInference)
    :tensorflow:serving:batching_session:queuing_latency{thread_pool_name}
                                                        histogram  batching_session.cc, 100us * 1.2^i x 52
    :tensorflow:serving:batching_session:wrapped_run_count          counter    batching_session.cc
    :tensorflow:serving:batching_session:input_batch_size           histogram  batching_util.h, 1 * 2^i x 14
    :tensorflow:serving:batching_session:processed_batch_size       histogram  batching_util.h
    :tensorflow:serving:batching_session:padding_size{execution_batch_size}  batching_util.h
    :tensorflow:serving:model_warmup_latency{model_path,status}     histogram  saved_model_warmup_util.cc
    :tensorflow:cc:saved_model:load_attempt_count{model_path,status} counter   (TF's SavedModel loader)
    :tensorflow:cc:saved_model:load_latency{model_path}             counter, microseconds
    :tfkit:serving:loaded_versions{model_name}                      gauge      (kit extension)
    :tfkit:serving:model_warmup_records_read{model_path,status}     counter    (kit extension)

Text format as prometheus_exporter.cc writes it: one `# TYPE` line per metric (no `# HELP`), metrics
sorted by their upstream path, points sorted by label values, labels in declaration order, counters and
gauges as integers, bucket limits and sums as absl::StrCat prints a double (`%.6g`), the last bucket
`+Inf`. TF's Histogram puts a value v into the first bucket whose limit is > v. Latencies are whole
microseconds, as upstream's `NowMicros()` differences.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

CONTENT_TYPE = "text/plain"
RUNTIME = "TF1"  # the runtime label upstream's SavedModel session path records


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """monitoring::Buckets::Exponential: `count` limits scale * growth^i (multiplied step by step)."""
    limits: list[float] = []
    bound = scale
    for _ in range(count):
        limits.append(bound)
        bound *= growth
    return tuple(limits)


LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)
QUEUE_BUCKETS_US = exponential_buckets(100, 1.2, 52)
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 14)
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)


def double_text(value: float) -> str:
    """A double as absl::StrCat prints it (six significant digits, `%g` style)."""
    return f"{value:.6g}"


def _micros(seconds: float) -> int:
    return max(0, int(seconds * 1_000_000))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class _Metric:
    """One metric: a path (upstream name), label names and one cell per label-value tuple."""

    kind = "untyped"

    def __init__(self, path: str, labels: Sequence[str] = ()) -> None:
        self.path = path
        self.name = "".join(c if c.isascii() and (c.isalnum() or c == "_") else ":" for c in path)
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _label_text(self, values: tuple[str, ...]) -> list[str]:
        return [f'{name}="{_escape(value)}"' for name, value in zip(self.labels, values, strict=True)]

    def lines(self) -> list[str]:
        raise NotImplementedError


class _Scalar(_Metric):
    """A counter (`kind = "counter"`) or gauge of int64 values."""

    def __init__(self, path: str, labels: Sequence[str] = (), kind: str = "counter") -> None:
        super().__init__(path, labels)
        self.kind = kind
        self._cells: dict[tuple[str, ...], int] = {}

    def add(self, values: tuple[str, ...], amount: int) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + amount

    def set(self, values: tuple[str, ...], value: int) -> None:
        with self._lock:
            self._cells[values] = value

    def lines(self) -> list[str]:
        with self._lock:
            cells = sorted(self._cells.items())
        out = [f"# TYPE {self.name} {self.kind}"]
        out += [f"{self.name}{{{','.join(self._label_text(k))}}} {v}" for k, v in cells]
        return out


class _Histogram(_Metric):
    kind = "histogram"

    def __init__(self, path: str, labels: Sequence[str], limits: tuple[float, ...]) -> None:
        super().__init__(path, labels)
        self.limits = limits
        self._cells: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, values: tuple[str, ...], value: float) -> None:
        index = bisect.bisect_right(self.limits, value)
        with self._lock:
            cell = self._cells.get(values)
            if cell is None:
                cell = self._cells[values] = ([0] * (len(self.limits) + 1), [0.0])
            cell[0][index] += 1
            cell[1][0] += value

    def lines(self) -> list[str]:
        with self._lock:
            cells = sorted((k, (list(c), s[0])) for k, (c, s) in self._cells.items())
        out = [f"# TYPE {self.name} histogram"]
        for values, (counts, total) in cells:
            labels = self._label_text(values)
            prefix = f"{self.name}_bucket{{{','.join(labels)}{',' if labels else ''}"
            cumulative = 0
            for i, count in enumerate(counts):
                cumulative += count
                limit = double_text(self.limits[i]) if i < len(self.limits) else "+Inf"
                out.append(f'{prefix}le="{limit}"}} {cumulative}')
            out.append(f"{self.name}_sum{{{','.join(labels)}}} {double_text(total)}")
            out.append(f"{self.name}_count{{{','.join(labels)}}} {cumulative}")
        return out


class Metrics:
    """Every server metric (thread-safe); `render()` is the Prometheus page."""

    def __init__(self, thread_pool_name: str = "model_server_batch_threads") -> None:
        self._thread_pool_name = thread_pool_name
        serving = "/tensorflow/serving/"
        batching = serving + "batching_session/"
        self._request_count = _Scalar(serving + "request_count", ("model_name", "status"))
        self._request_latency = _Histogram(
            serving + "request_latency", ("model_name", "API", "entrypoint"), LATENCY_BUCKETS_US
        )
        self._runtime_latency = _Histogram(
            serving + "runtime_latency", ("model_name", "API", "runtime"), LATENCY_BUCKETS_US
        )
        self._example_counts = _Histogram(
            serving + "request_example_counts", ("model",), EXAMPLE_COUNT_BUCKETS
        )
        self._example_total = _Scalar(serving + "request_example_count_total", ("model",))
        self._queuing_latency = _Histogram(
            batching + "queuing_latency", ("thread_pool_name",), QUEUE_BUCKETS_US
        )
        self._wrapped_runs = _Scalar(batching + "wrapped_run_count")
        self._input_batch_size = _Histogram(batching + "input_batch_size", (), BATCH_SIZE_BUCKETS)
        self._processed_batch_size = _Histogram(batching + "processed_batch_size", (), BATCH_SIZE_BUCKETS)
        self._padding_size = _Histogram(
            batching + "padding_size", ("execution_batch_size",), BATCH_SIZE_BUCKETS
        )
        self._warmup_latency = _Histogram(
            serving + "model_warmup_latency", ("model_path", "status"), LATENCY_BUCKETS_US
        )
        self._load_attempts = _Scalar(
            "/tensorflow/cc/saved_model/load_attempt_count", ("model_path", "status")
        )
        self._load_latency = _Scalar("/tensorflow/cc/saved_model/load_latency", ("model_path",))
        self._loaded_versions = _Scalar("/tfkit/serving/loaded_versions", ("model_name",), kind="gauge")
        self._warmup_records = _Scalar("/tfkit/serving/model_warmup_records_read", ("model_path", "status"))
        self._all: list[_Metric] = sorted(
            (value for value in vars(self).values() if isinstance(value, _Metric)), key=lambda m: m.path
        )

    # -- Requests (model_servers/http_server.cc, prediction_service_impl.cc) ---------------------------

    def observe_request(self, model: str, api: str, entrypoint: str, code_name: str, seconds: float) -> None:
        """One finished request: RecordModelRequestCount always, RecordRequestLatency when OK."""
        self._request_count.add((model, code_name), 1)
        if code_name == "OK":
            self._request_latency.observe((model, api, entrypoint), _micros(seconds))

    def observe_runtime(self, model: str, api: str, seconds: float, runtime: str = RUNTIME) -> None:
        """RecordRuntimeLatency: the wall time of one session Run (queueing included when batched)."""
        self._runtime_latency.observe((model, api, runtime), _micros(seconds))

    def observe_examples(self, model: str, count: int) -> None:
        """RecordRequestExampleCount (MultiInference)."""
        self._example_counts.observe((model,), count)
        self._example_total.add((model,), count)

    # -- Batching (batching_session.cc, batching_util.h) ---------------------------------------------

    def observe_input_batch(self, rows: int) -> None:
        """One input tensor of a task entering the batcher (upstream records each input's 0th dim)."""
        self._input_batch_size.observe((), rows)

    def observe_queue(self, seconds: float) -> None:
        """How long one task waited in its batch queue until its batch was dequeued."""
        self._queuing_latency.observe((self._thread_pool_name,), _micros(seconds))

    def observe_batch(self, size: int, padding: int) -> None:
        """One merged batch: `size` rows after padding to an allowed batch size, `padding` of them added."""
        self._padding_size.observe((str(size),), padding)
        self._processed_batch_size.observe((), size)

    def observe_wrapped_run(self) -> None:
        self._wrapped_runs.add((), 1)

    # -- Lifecycle -----------------------------------------------------------------------------------

    def observe_load(self, model: str, version: int, seconds: float, ok: bool, model_path: str = "") -> None:
        """One SavedModel load attempt; `model_path` defaults to `<model>/<version>`."""
        path = model_path or f"{model}/{version}"
        self._load_attempts.add((path, "success" if ok else "fail"), 1)
        if ok:
            self._load_latency.add((path,), _micros(seconds))

    def set_loaded_versions(self, model: str, n: int) -> None:
        self._loaded_versions.set((model,), n)

    def observe_warmup(self, model_path: str, records: int, seconds: float, status: str) -> None:
        """One warmup replay; `status` is the Status text upstream uses as label (`OK`, `DATA_LOSS: ...`)."""
        self._warmup_latency.observe((model_path, status), _micros(seconds))
        self._warmup_records.add((model_path, "OK" if status == "OK" else "ERROR"), records)

    def render(self) -> bytes:
        """The Prometheus page, as prometheus_exporter.cc's GeneratePage writes it."""
        lines: list[str] = []
        for metric in self._all:
            lines += metric.lines()
        return ("\n".join(lines) + "\n").encode("utf-8")
