"""The typed settings of `tfkit serve`: one frozen object built once by the CLI and passed down.

`serving.flags.parse_flags(argv)` builds a `ServerSettings` from tensorflow_model_server's command line
(reading the model, batching and monitoring config files it names); the core and both adapters only
read it. Field names are the upstream flag names, so `settings.rest_api_port` is `--rest_api_port`.
Nothing here reads files, parses flags or imports TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from serving.types import ModelConfig

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class BatchingSettings:
    """BatchingParameters (session_bundle_config.proto) with upstream defaults filled in for unset fields.

    Defaults are TF's SharedBatchScheduler ones, as tensorflow_model_server applies them when a field is
    absent from `--batching_parameters_file` (or when `--enable_batching` is given without a file).
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=_cpu_count)
    thread_pool_name: str = "model_server_batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = 1000

    @property
    def batch_timeout_seconds(self) -> float:
        return self.batch_timeout_micros / 1_000_000


@dataclass(frozen=True)
class MonitoringSettings:
    """MonitoringConfig.prometheus_config: serve Prometheus text at `path` on the REST port when enabled."""

    enabled: bool = False
    path: str = DEFAULT_METRICS_PATH


@dataclass(frozen=True)
class SslSettings:
    """SSLConfig (config/ssl_config.proto) from `--ssl_config_file`: PEM texts and client verification."""

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False


@dataclass(frozen=True)
class PathMapping:
    """Kit extension `--tfkit_path_map=FROM=TO`: a base_path starting with FROM is read from TO instead.

    This lets the container's config (`base_path: "/models/ctr"`) run unchanged on a dev machine.
    `source` is matched on whole path segments (`/models` maps `/models/ctr`, not `/models2/ctr`);
    `target` is an absolute local directory.
    """

    source: str
    target: str

    def apply(self, path: str) -> str | None:
        """The mapped path, or None when `path` is not under `source`."""
        src = self.source.rstrip("/") or "/"
        if path == src:
            return self.target
        prefix = src if src.endswith("/") else src + "/"
        if path.startswith(prefix):
            return self.target.rstrip("/") + "/" + path[len(prefix) :]
        return None


def map_path(path: str, mappings: tuple[PathMapping, ...]) -> str:
    """Apply the longest matching `--tfkit_path_map` prefix to `path` (unchanged when none matches)."""
    best: tuple[int, str] | None = None
    for mapping in mappings:
        mapped = mapping.apply(path)
        if mapped is not None and (best is None or len(mapping.source) > best[0]):
            best = (len(mapping.source), mapped)
    return path if best is None else best[1]


@dataclass(frozen=True)
class WorkerSlot:
    """One process of `--tfkit_workers=N` (serving.workers): its index and every worker's control socket."""

    index: int
    control_sockets: tuple[str, ...]


@dataclass(frozen=True)
class ServerSettings:
    """Every flag `tfkit serve` supports (tensorflow_model_server names and defaults) plus resolved configs.

    `models` is the initial model list: from `--model_config_file` when given (base paths already passed
    through `path_map`), else the single `--model_name`/`--model_base_path` model. `batching` is None
    unless `--enable_batching`. The core re-reads `model_config_file` itself when
    `model_config_file_poll_wait_seconds > 0` (via `serving.config.read_model_config_file`).
    """

    # Transports.
    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    # 0 = not given: upstream's default is 4 x CPUs, which the kit does not enforce (README).
    grpc_max_threads: int = 0
    grpc_channel_arguments: tuple[tuple[str, int | str], ...] = ()  # parsed --grpc_channel_arguments
    ssl: SslSettings | None = None  # from --ssl_config_file
    enable_grpc_healthcheck_service: bool = False
    # Models.
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    allow_version_labels_for_unavailable_models: bool = False
    num_load_threads: int = 0  # 0 = one load at a time after startup, as upstream
    num_unload_threads: int = 0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    saved_model_tags: tuple[str, ...] = ("serve",)
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 0  # 0 means 1, as upstream
    models: tuple[ModelConfig, ...] = ()
    # TensorFlow runtime (applied once at start, before any model loads).
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    tensorflow_session_config_file: str = ""
    # SavedModel / servable behaviour (upstream SessionBundleConfig fields, same names as the flags).
    enable_signature_method_name_check: bool = False
    enable_per_model_batching_parameters: bool = False  # only true together with --enable_batching
    prefer_tflite_model: bool = False
    remove_unused_fields_from_bundle_metagraph: bool = True
    enable_serialization_as_tensor_content: bool = False
    # Batching and monitoring.
    enable_batching: bool = False
    batching_parameters_file: str = ""
    batching: BatchingSettings | None = None
    monitoring_config_file: str = ""
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    # Accepted upstream flags that have no effect here (given on the command line), logged at start.
    no_effect_flags: tuple[str, ...] = ()
    # Kit extensions.
    path_map: tuple[PathMapping, ...] = ()
    drain_seconds: float = 10.0
    tfkit_access_log: bool = False  # serving/events.py writes one line per request
    tfkit_workers: int = 1  # server processes sharing the ports (serving/workers.py)
    worker: WorkerSlot | None = None  # set by the supervisor in each worker process
    # `--version`: print versions and exit (no model flags needed).
    version: bool = False

    @property
    def intra_op_threads(self) -> int:
        """TF intra-op threads as upstream derives them (server.cc): 0 = TensorFlow's own choice."""
        if self.tensorflow_intra_op_parallelism > 0 or self.tensorflow_inter_op_parallelism > 0:
            return self.tensorflow_intra_op_parallelism
        return self.tensorflow_session_parallelism

    @property
    def inter_op_threads(self) -> int:
        if self.tensorflow_intra_op_parallelism > 0 or self.tensorflow_inter_op_parallelism > 0:
            return self.tensorflow_inter_op_parallelism
        return self.tensorflow_session_parallelism

    @property
    def warmup_iterations(self) -> int:
        """How often each warmup record is replayed (`--num_request_iterations_for_warmup`, 0 -> 1)."""
        return max(1, self.num_request_iterations_for_warmup)

    @property
    def rest_timeout_seconds(self) -> float:
        return self.rest_api_timeout_in_ms / 1000

    @property
    def load_retry_interval_seconds(self) -> float:
        return self.load_retry_interval_micros / 1_000_000

    def local_path(self, base_path: str) -> str:
        """Where a config base_path is read from on this machine (after `--tfkit_path_map`).

        Idempotent: `serving.config` already maps the base paths it returns, and a path that already lies
        in a mapping's target directory is left as it is.
        """
        for mapping in self.path_map:
            target = mapping.target.rstrip("/")
            if base_path == target or base_path.startswith(target + "/"):
                return base_path
        return map_path(base_path, self.path_map)
