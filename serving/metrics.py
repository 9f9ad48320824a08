"""Prometheus metrics of `tfkit serve`, named as tensorflow_model_server exports them.

Upstream turns a metric path such as `/tensorflow/serving/request_count` into the Prometheus name
`:tensorflow:serving:request_count` (every character outside `[a-zA-Z0-9_]` becomes `:`), which
prometheus_client accepts as a legal name, so the kit uses the very same names and labels:

    :tensorflow:serving:request_count{model_name,status}               counter
    :tensorflow:serving:request_latency{model_name,API,entrypoint}    histogram, microseconds (OK only)
    :tensorflow:serving:runtime_latency{model_name,API,runtime}       histogram, microseconds
    :tensorflow:serving:batching_session:queuing_latency{thread_pool_name}   histogram, microseconds
    :tensorflow:serving:batching:input_batch_size{model_name}         histogram (request rows)
    :tensorflow:serving:batching:processed_batch_size{model_name}     histogram (merged batch rows)
    :tensorflow:serving:batching:padding_size{model_name}             histogram (padding rows)
    :tensorflow:cc:saved_model:load_attempt_count{model_path,status}  counter
    :tensorflow:cc:saved_model:load_latency{model_path}               counter, microseconds (successes)
    :tensorflow:serving:model_warmup_latency{model_path,status}       histogram, microseconds
    :tensorflow:serving:model_warmup_records_read{model_path,status}  counter
    :tfkit:serving:loaded_versions{model_name}                         gauge (kit extension)

Exposition is prometheus_client's text format over a private registry, with two adjustments so the text
matches upstream's exporter: counters keep their upstream name (prometheus_client would append
`_total`) and the client's `_created` series are left out.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# TF Serving's request latency buckets: exponential from 10us by 1.8, 33 buckets (util.cc).
LATENCY_BUCKETS_US: tuple[float, ...] = tuple(10 * 1.8**i for i in range(33))
# Batch-size buckets: powers of two up to 8192 rows.
BATCH_SIZE_BUCKETS: tuple[float, ...] = tuple(float(2**i) for i in range(14))

_REQUEST_COUNT = ":tensorflow:serving:request_count"
_LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
_LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
_WARMUP_RECORDS = ":tensorflow:serving:model_warmup_records_read"
_COUNTERS = (_REQUEST_COUNT, _LOAD_ATTEMPTS, _LOAD_LATENCY, _WARMUP_RECORDS)


def _us(seconds: float) -> float:
    return seconds * 1_000_000


class Metrics:
    """All server metrics over one private CollectorRegistry (thread-safe: prometheus_client locks)."""

    def __init__(self, thread_pool_name: str = "model_server_batch_threads") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._thread_pool_name = thread_pool_name
        reg = self.registry
        self._request_count = Counter(
            _REQUEST_COUNT, "The total number of requests.", ["model_name", "status"], registry=reg
        )
        self._request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of the latency of inference requests (microseconds).",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS_US,
            registry=reg,
        )
        self._runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time for the runtime (TensorFlow) in microseconds.",
            ["model_name", "API", "runtime"],
            buckets=LATENCY_BUCKETS_US,
            registry=reg,
        )
        self._queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing.",
            ["thread_pool_name"],
            buckets=LATENCY_BUCKETS_US,
            registry=reg,
        )
        self._input_batch_size = Histogram(
            ":tensorflow:serving:batching:input_batch_size",
            "Tracks the batch size distribution on the inputs (rows per request).",
            ["model_name"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        )
        self._processed_batch_size = Histogram(
            ":tensorflow:serving:batching:processed_batch_size",
            "Tracks the batch size distribution on processing (rows per merged batch).",
            ["model_name"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        )
        self._padding_size = Histogram(
            ":tensorflow:serving:batching:padding_size",
            "Tracks the padding size distribution on batches.",
            ["model_name"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        )
        self._load_attempts = Counter(
            _LOAD_ATTEMPTS,
            "The number of times a SavedModel was loaded.",
            ["model_path", "status"],
            registry=reg,
        )
        self._load_latency = Counter(
            _LOAD_LATENCY,
            "Latency in microseconds for SavedModels that were successfully loaded.",
            ["model_path"],
            registry=reg,
        )
        self._warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path", "status"],
            buckets=LATENCY_BUCKETS_US,
            registry=reg,
        )
        self._warmup_records = Counter(
            _WARMUP_RECORDS, "Number of warmup records read.", ["model_path", "status"], registry=reg
        )
        self._loaded_versions = Gauge(
            ":tfkit:serving:loaded_versions",
            "Number of AVAILABLE versions per model (kit extension).",
            ["model_name"],
            registry=reg,
        )

    def observe_request(self, model: str, api: str, entrypoint: str, code_name: str, seconds: float) -> None:
        """One finished request. `api` is the REST verb (`predict`) or gRPC method (`Predict`);
        `code_name` the canonical code name (`OK`, `NOT_FOUND`, ...). Latency counts OK requests only."""
        self._request_count.labels(model, code_name).inc()
        if code_name == "OK":
            self._request_latency.labels(model, api, entrypoint).observe(_us(seconds))

    def observe_runtime(self, model: str, api: str, seconds: float, runtime: str = "TF") -> None:
        """Time spent inside TensorFlow for one call (a whole merged batch when batching)."""
        self._runtime_latency.labels(model, api, runtime).observe(_us(seconds))

    def observe_task(self, model: str, rows: int, queue_seconds: float) -> None:
        """One request entering a batch: its row count and how long it waited in the batch queue."""
        self._input_batch_size.labels(model).observe(rows)
        self._queuing_latency.labels(self._thread_pool_name).observe(_us(queue_seconds))

    def observe_batch(self, model: str, size: int, queue_seconds: float, padding: int = 0) -> None:
        """One merged batch run: its row count (without padding), the longest queueing delay of its
        requests and the padding rows added for `allowed_batch_sizes`."""
        del queue_seconds  # per-request delays are recorded by observe_task
        self._processed_batch_size.labels(model).observe(size + padding)
        self._padding_size.labels(model).observe(padding)

    def observe_load(self, model: str, version: int, seconds: float, ok: bool, model_path: str = "") -> None:
        """One SavedModel load attempt; `model_path` defaults to `<model>/<version>`."""
        path = model_path or f"{model}/{version}"
        self._load_attempts.labels(path, "success" if ok else "fail").inc()
        if ok:
            self._load_latency.labels(path).inc(_us(seconds))

    def set_loaded_versions(self, model: str, n: int) -> None:
        self._loaded_versions.labels(model).set(n)

    def observe_warmup(self, model_path: str, records: int, seconds: float, ok: bool) -> None:
        """One warmup replay of a version directory (`records` replayed, wall time, success)."""
        status = "OK" if ok else "ERROR"
        self._warmup_latency.labels(model_path, status).observe(_us(seconds))
        self._warmup_records.labels(model_path, status).inc(records)

    def render(self) -> bytes:
        """Prometheus text exposition (content type `CONTENT_TYPE`) with upstream metric names."""
        return _upstream_text(generate_latest(self.registry).decode("utf-8")).encode("utf-8")


def _upstream_text(text: str) -> str:
    """Drop `_created` series and give counters back their upstream names (no `_total` suffix)."""
    renames = {f"{name}_total": name for name in _COUNTERS}
    out: list[str] = []
    skip_family = False
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line.split(" ", 3)[2]
            skip_family = name.endswith("_created")
            if skip_family:
                continue
            line = line[:7] + renames.get(name, name) + line[7 + len(name) :]
        elif skip_family:
            continue
        else:
            name_end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=len(line))
            name = line[:name_end]
            if name.endswith("_created"):
                continue
            line = renames.get(name, name) + line[name_end:]
        out.append(line)
    return "\n".join(out) + "\n"
