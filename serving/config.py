"""Text-format config files of tensorflow_model_server -> the kit's typed settings, with upstream errors.

- `--model_config_file`: `ModelServerConfig` (proto from tensorflow-serving-api) -> `list[ModelConfig]`,
  validated like `ServerCore::ValidateModelConfigList` / `GetPlatform`.
- `--batching_parameters_file`: `BatchingParameters` -> `BatchingSettings`, upstream defaults for unset
  fields (TF SharedBatchScheduler: max_batch_size 1000, batch_timeout_micros 0, max_enqueued_batches 10,
  num_batch_threads = CPUs).
- `--monitoring_config_file`: `MonitoringConfig` -> `MonitoringSettings` (empty path ->
  `/monitoring/prometheus/metrics`).
- `--ssl_config_file`: `SSLConfig` -> `SslSettings`; `--tensorflow_session_config_file`: `ConfigProto`.

Errors are `ServingError`s with the upstream status texts, so the CLI prints them as
`Failed to start server. Error: INVALID_ARGUMENT: ...` and `HandleReloadConfigRequest` returns them as-is.
A file that does not parse gives upstream's status `Invalid protobuf file: '<path>'`, followed by the
protobuf parser's own line (`Error parsing text-format <type>: <line>:<col>: <reason>`), which the real
binary writes to its log.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from serving.settings import (
    DEFAULT_METRICS_PATH,
    BatchingSettings,
    MonitoringSettings,
    PathMapping,
    SslSettings,
    map_path,
)
from serving.status import InvalidArgument, NotFound
from serving.types import ModelConfig, VersionPolicy

TENSORFLOW_PLATFORM = "tensorflow"
_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def read_text_file(path: str) -> str:
    """File contents, or upstream's NOT_FOUND text when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}; No such file or directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Invalid protobuf file: '{path}' ({exc})") from None


def parse_text_proto(text: str, message: Any, source: str) -> Any:
    """Parse text-format `text` into `message` (returned); `source` names the file in errors."""
    from google.protobuf import text_format

    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        reason = re.sub(r"^\d+:\d+ : ", "", str(exc))
        where = f"{exc.GetLine()}:{exc.GetColumn()}: " if exc.GetLine() is not None else ""
        type_name = message.DESCRIPTOR.full_name
        raise InvalidArgument(
            f"Invalid protobuf file: '{source}'. Error parsing text-format {type_name}: {where}{reason}"
        ) from None
    return message


# --- ModelServerConfig -------------------------------------------------------------------------------


def is_relative_path(uri: str) -> bool:
    """True when `uri` has no scheme and is not an absolute path (upstream UriIsRelativePath)."""
    return not _URI_SCHEME.match(uri) and not uri.startswith("/")


def _platform(config: Any) -> str:
    """Upstream GetPlatform: model_platform, or the deprecated model_type, never neither/both."""
    from tensorflow_serving.config import model_server_config_pb2 as pb

    if config.model_type != pb.MODEL_TYPE_UNSPECIFIED:
        if config.model_platform:
            raise InvalidArgument(
                "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                f"ModelServerConfig::model_platform, model name is {config.name}"
            )
        if config.model_type == pb.TENSORFLOW:
            return TENSORFLOW_PLATFORM
        raise InvalidArgument(f"ModelServerConfig::model_type choice {config.model_type} not supported.")
    if not config.model_platform:
        raise InvalidArgument(
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {config.name}"
        )
    return str(config.model_platform)


def _version_policy(config: Any) -> VersionPolicy:
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return VersionPolicy(kind="all")
    if kind == "specific":
        return VersionPolicy(kind="specific", versions=tuple(int(v) for v in policy.specific.versions))
    num = int(policy.latest.num_versions) if kind == "latest" else 1
    return VersionPolicy(kind="latest", num_versions=max(num, 1))  # upstream: max(num_versions, 1)


def model_configs_from_proto(message: Any, path_map: tuple[PathMapping, ...] = ()) -> list[ModelConfig]:
    """A `tensorflow.serving.ModelServerConfig` -> validated model list (base paths through `path_map`).

    Validation and texts follow ServerCore's ValidateModelConfigList: unique names, absolute base paths
    or URIs, and GetPlatform (model_platform or model_type). An unset config means no models.
    """
    kind = message.WhichOneof("config")
    if kind == "custom_model_config":
        raise InvalidArgument("ModelServer does not yet support custom model config.")
    if kind is None:
        return []
    entries = list(message.model_config_list.config)
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise InvalidArgument(f"Illegal to list model {entry.name} multiple times in config list")
        seen.add(entry.name)
    for entry in entries:
        if is_relative_path(entry.base_path):
            raise InvalidArgument(
                f"Expected model {entry.name} to have an absolute path or URI; "
                f"got base_path()={entry.base_path}"
            )
    configs: list[ModelConfig] = []
    for entry in entries:
        # An unsupported platform is refused by the manager, after the labels (ServerCore order).
        platform = _platform(entry)
        configs.append(
            ModelConfig(
                name=str(entry.name),
                base_path=map_path(str(entry.base_path), path_map),
                platform=platform,
                version_policy=_version_policy(entry),
                version_labels={str(k): int(v) for k, v in sorted(entry.version_labels.items())},
            )
        )
    return configs


def parse_model_server_config(text: str, source: str = "<text>") -> Any:
    """Text-format -> `tensorflow.serving.ModelServerConfig` message."""
    from tensorflow_serving.config import model_server_config_pb2

    return parse_text_proto(text, model_server_config_pb2.ModelServerConfig(), source)


def read_model_config_file(path: str, path_map: tuple[PathMapping, ...] = ()) -> list[ModelConfig]:
    """`--model_config_file` -> validated model list (used at startup and by the config-file poller)."""
    return model_configs_from_proto(parse_model_server_config(read_text_file(path), path), path_map)


def single_model_config(
    name: str, base_path: str, path_map: tuple[PathMapping, ...] = ()
) -> list[ModelConfig]:
    """`--model_name` + `--model_base_path` (upstream BuildSingleModelConfig), validated the same way."""
    from tensorflow_serving.config import model_server_config_pb2

    message = model_server_config_pb2.ModelServerConfig()
    entry = message.model_config_list.config.add()
    entry.name = name
    entry.base_path = base_path
    entry.model_platform = TENSORFLOW_PLATFORM
    return model_configs_from_proto(message, path_map)


# --- BatchingParameters ------------------------------------------------------------------------------


def _wrapped(message: Any, field: str, default: Any) -> Any:
    return getattr(message, field).value if message.HasField(field) else default


def batching_settings_from_proto(message: Any) -> BatchingSettings:
    """A `tensorflow.serving.BatchingParameters` -> `BatchingSettings`, upstream defaults when unset."""
    defaults = BatchingSettings()
    max_batch_size = int(_wrapped(message, "max_batch_size", defaults.max_batch_size))
    splitting = bool(_wrapped(message, "enable_large_batch_splitting", False))
    settings = BatchingSettings(
        max_batch_size=max_batch_size,
        batch_timeout_micros=int(_wrapped(message, "batch_timeout_micros", defaults.batch_timeout_micros)),
        max_enqueued_batches=int(_wrapped(message, "max_enqueued_batches", defaults.max_enqueued_batches)),
        num_batch_threads=int(_wrapped(message, "num_batch_threads", defaults.num_batch_threads)),
        thread_pool_name=str(_wrapped(message, "thread_pool_name", "batch_threads")),
        allowed_batch_sizes=tuple(int(s) for s in message.allowed_batch_sizes),
        pad_variable_length_inputs=bool(message.pad_variable_length_inputs),
        enable_large_batch_splitting=splitting,
        # Upstream: with splitting on and no max_execution_batch_size, batches execute at max_batch_size.
        max_execution_batch_size=int(
            _wrapped(message, "max_execution_batch_size", max_batch_size if splitting else 1000)
        ),
    )
    validate_batching(settings)
    return settings


def validate_batching(settings: BatchingSettings) -> None:
    """Reject parameters the batch scheduler would reject (SharedBatchScheduler / BatchingSession)."""
    if settings.max_batch_size <= 0:
        raise InvalidArgument(f"input_batch_size_limit must be positive; was {settings.max_batch_size}")
    if settings.num_batch_threads < 1:
        raise InvalidArgument("num_batch_threads must be positive; was " + str(settings.num_batch_threads))
    if settings.max_enqueued_batches <= 0:
        raise InvalidArgument(
            "max_enqueued_batches must be positive; was " + str(settings.max_enqueued_batches)
        )
    if settings.batch_timeout_micros < 0:
        raise InvalidArgument("batch_timeout_micros must be non-negative")
    sizes = settings.allowed_batch_sizes
    if any(b <= a for a, b in itertools.pairwise(sizes)):
        raise InvalidArgument("allowed_batch_sizes entries must be monotonically increasing")
    if settings.enable_large_batch_splitting:
        if settings.max_execution_batch_size <= 0:
            raise InvalidArgument("max_execution_batch_size must be positive")
        if sizes and sizes[-1] > settings.max_batch_size:
            raise InvalidArgument(
                "Last entry in allowed_batch_sizes must be less than or equal to max_batch_size; last "
                f"entry was {sizes[-1]}; expected {settings.max_batch_size}"
            )
        if sizes and sizes[-1] != settings.max_execution_batch_size:
            raise InvalidArgument(
                "Last entry in allowed_batch_sizes must be equal to max_execution_batch_size; last "
                f"entry was {sizes[-1]}; expected {settings.max_execution_batch_size}"
            )
    elif sizes and sizes[-1] != settings.max_batch_size:
        raise InvalidArgument(
            "Last entry in allowed_batch_sizes must match max_batch_size; last "
            f"entry was {sizes[-1]}; expected {settings.max_batch_size}"
        )


def parse_batching_parameters(text: str, source: str = "<text>") -> BatchingSettings:
    from serving.config_protos import batching_parameters_class

    return batching_settings_from_proto(parse_text_proto(text, batching_parameters_class()(), source))


def read_batching_parameters_file(path: str) -> BatchingSettings:
    """`--batching_parameters_file` -> `BatchingSettings`."""
    return parse_batching_parameters(read_text_file(path), path)


# --- MonitoringConfig --------------------------------------------------------------------------------


def monitoring_settings_from_proto(message: Any) -> MonitoringSettings:
    """A `tensorflow.serving.MonitoringConfig` -> `MonitoringSettings` (empty path -> upstream default)."""
    prometheus = message.prometheus_config
    path = str(prometheus.path) or DEFAULT_METRICS_PATH
    return MonitoringSettings(enabled=bool(prometheus.enable), path=path)


def parse_monitoring_config(text: str, source: str = "<text>") -> MonitoringSettings:
    from serving.config_protos import monitoring_config_class

    return monitoring_settings_from_proto(parse_text_proto(text, monitoring_config_class()(), source))


def read_monitoring_config_file(path: str) -> MonitoringSettings:
    """`--monitoring_config_file` -> `MonitoringSettings`."""
    return parse_monitoring_config(read_text_file(path), path)


# --- SSLConfig and the TensorFlow session ConfigProto ------------------------------------------------


def read_ssl_config_file(path: str) -> SslSettings:
    """`--ssl_config_file` (text-format SSLConfig) -> `SslSettings` (server.cc BuildServerCredentials)."""
    from serving.config_protos import ssl_config_class

    message = parse_text_proto(read_text_file(path), ssl_config_class()(), path)
    return SslSettings(
        server_key=str(message.server_key),
        server_cert=str(message.server_cert),
        custom_ca=str(message.custom_ca),
        client_verify=bool(message.client_verify),
    )


def read_session_config_file(path: str) -> Any:
    """`--tensorflow_session_config_file` -> a `tensorflow.ConfigProto` (validated as upstream parses it)."""
    from tensorflow.core.protobuf import config_pb2

    return parse_text_proto(read_text_file(path), config_pb2.ConfigProto(), path)
