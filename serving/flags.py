"""tensorflow_model_server's command line -> `ServerSettings` (the one settings object of `tfkit serve`).

Accepted forms: `--flag=value` (upstream's form), `--flag value`, bools as `--flag`,
`--flag=true|false|1|0`. Flag names, defaults and meanings are upstream's (`model_servers/main.cc`);
two kit extensions start with `tfkit_`: `--tfkit_path_map=FROM=TO` (repeatable) and
`--tfkit_drain_seconds`.

Deliberate difference: the real binary prints `unknown argument: ...` and starts anyway; the kit refuses
an unknown or unsupported flag (`FlagError`, exit 2) with the list of supported ones, so a flag that would
silently do nothing here is never mistaken for one that works.

The files the flags name are read here too (`serving.config`), so a bad config stops the start with
upstream's status text (a `ServingError`), before any port opens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.settings import BatchingSettings, MonitoringSettings, PathMapping, ServerSettings
from serving.status import InvalidArgument


class FlagError(ValueError):
    """A command-line usage error: unknown flag, bad value, missing model flags (exit status 2)."""


@dataclass(frozen=True)
class Flag:
    name: str
    kind: type  # int, float, bool, str, list (repeatable str)
    default: Any
    help: str


FLAGS: tuple[Flag, ...] = (
    Flag("port", int, 8500, "gRPC port (non-zero: --grpc_socket_path is not supported)."),
    Flag("rest_api_port", int, 0, "REST port; 0 = REST off (upstream default). Must differ from --port."),
    Flag("rest_api_timeout_in_ms", int, 30000, "Deadline of REST predict/classify/regress (504 after)."),
    Flag("rest_api_enable_cors_support", bool, False, "Add CORS headers to REST responses."),
    Flag("rest_api_num_threads", int, 0, "Accepted for compatibility (the kit serves REST on asyncio)."),
    Flag("grpc_max_threads", int, 0, "Accepted for compatibility (the kit serves gRPC on asyncio)."),
    Flag("enable_grpc_healthcheck_service", bool, False, "Serve grpc.health.v1.Health."),
    Flag("model_name", str, "default", "Name of the single model (without --model_config_file)."),
    Flag("model_base_path", str, "", "Absolute path or URI of the single model's version directories."),
    Flag(
        "model_config_file", str, "", "Text-format ModelServerConfig (then --model_name/_base_path unused)."
    ),
    Flag("model_config_file_poll_wait_seconds", int, 0, "Re-read --model_config_file every N s (0 = once)."),
    Flag("file_system_poll_wait_seconds", int, 1, "Poll base paths every N s (0 = once, <0 = never)."),
    Flag("allow_version_labels_for_unavailable_models", bool, False, "Labels may name unloaded versions."),
    Flag("max_num_load_retries", int, 5, "Retries of a failed version load."),
    Flag("load_retry_interval_micros", int, 60_000_000, "Wait between load retries (microseconds)."),
    Flag("saved_model_tags", str, "serve", "Comma-separated MetaGraph tags to load."),
    Flag("enable_model_warmup", bool, True, "Replay assets.extra/tf_serving_warmup_requests at load."),
    Flag("num_request_iterations_for_warmup", int, 0, "Replays per warmup record (0 = 1)."),
    Flag("enable_batching", bool, False, "Batch concurrent requests per model, version and signature."),
    Flag("batching_parameters_file", str, "", "Text-format BatchingParameters (needs --enable_batching)."),
    Flag("monitoring_config_file", str, "", "Text-format MonitoringConfig (metrics on the REST port)."),
    Flag("version", bool, False, "Print the TensorFlow ModelServer / TensorFlow Library versions and exit."),
    Flag("tfkit_path_map", list, [], "Kit: FROM=TO, read base paths under FROM from dir TO (repeatable)."),
    Flag("tfkit_drain_seconds", float, 10.0, "Kit: grace period to drain in-flight requests on SIGTERM."),
    Flag("tfkit_access_log", bool, False, "Kit: one structured log line per request (JSON off a terminal)."),
)
_BY_NAME = {flag.name: flag for flag in FLAGS}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def usage() -> str:
    """The supported flags with defaults, as `tfkit serve --help` prints them."""
    lines = [
        "usage: tfkit serve [--flag=value ...]",
        "",
        "tensorflow_model_server's flags (same names, defaults and meaning); --tfkit_* are kit extensions.",
        "Forms: --flag=value, --flag value; booleans also --flag, --flag=true|false|1|0.",
        "",
    ]
    for flag in FLAGS:
        default = "(none)" if flag.kind is list else repr(flag.default)
        kind = "repeatable" if flag.kind is list else flag.kind.__name__
        lines.append(f"  --{flag.name}  ({kind}, default {default})")
        lines.append(f"      {flag.help}")
    return "\n".join(lines)


def _supported() -> str:
    return "Supported flags: " + ", ".join(f"--{flag.name}" for flag in FLAGS)


def _convert(flag: Flag, raw: str) -> Any:
    if flag.kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise FlagError(f"Invalid value for --{flag.name}: {raw!r} (expected true, false, 1 or 0)")
    convert: Callable[[str], Any] = int if flag.kind is int else float if flag.kind is float else str
    try:
        return convert(raw)
    except ValueError:
        raise FlagError(f"Invalid value for --{flag.name}: {raw!r} (expected {flag.kind.__name__})") from None


def _split_args(argv: Sequence[str]) -> dict[str, Any]:
    """argv -> {flag name: converted value} (lists accumulate), rejecting unknown flags."""
    values: dict[str, Any] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-") or token in ("-", "--"):
            raise FlagError(f"unknown argument: {token}\n{_supported()}")
        name, eq, raw = token.lstrip("-").partition("=")
        flag = _BY_NAME.get(name)
        if flag is None:
            raise FlagError(f"Unknown or unsupported flag: --{name}\n{_supported()}")
        if not eq:
            if flag.kind is bool:
                nxt = args[i].lower() if i < len(args) else ""
                raw = "true"
                if nxt in _TRUE + _FALSE:
                    raw, i = nxt, i + 1
            elif i < len(args):
                raw, i = args[i], i + 1
            else:
                raise FlagError(f"Missing value for --{name}")
        if flag.kind is list:
            values.setdefault(name, []).append(raw)
        else:
            values[name] = _convert(flag, raw)
    return values


def _path_mapping(raw: str) -> PathMapping:
    source, eq, target = raw.partition("=")
    if not eq or not source.startswith("/") or not target:
        raise FlagError(
            f"Invalid value for --tfkit_path_map: {raw!r} (expected /FROM=TO, e.g. /models=./models)"
        )
    return PathMapping(source=source.rstrip("/") or "/", target=str(Path(target).resolve()))


def parse_flags(argv: Sequence[str]) -> ServerSettings:
    """tensorflow_model_server flags -> `ServerSettings`, reading the config files they name.

    Raises `FlagError` for usage errors and a `ServingError` (upstream text) for invalid configuration.
    """
    from serving import config

    values = _split_args(argv)

    def get(name: str) -> Any:
        return values.get(name, _BY_NAME[name].default)

    if get("version"):
        return ServerSettings(version=True)
    path_map = tuple(_path_mapping(raw) for raw in get("tfkit_path_map"))
    if get("tfkit_drain_seconds") < 0:
        raise FlagError("Invalid value for --tfkit_drain_seconds: must be >= 0")
    if get("port") == 0:
        raise InvalidArgument(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
        )
    if not get("model_base_path") and not get("model_config_file"):
        raise InvalidArgument(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    if get("model_config_file"):
        models = config.read_model_config_file(get("model_config_file"), path_map)
    else:
        models = config.single_model_config(get("model_name"), get("model_base_path"), path_map)
    batching: BatchingSettings | None = None
    if get("enable_batching"):
        if get("batching_parameters_file"):
            batching = config.read_batching_parameters_file(get("batching_parameters_file"))
        else:
            batching = BatchingSettings()
    elif get("batching_parameters_file"):
        raise InvalidArgument(
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true."
        )
    monitoring = MonitoringSettings()
    if get("monitoring_config_file"):
        monitoring = config.read_monitoring_config_file(get("monitoring_config_file"))
    tags = tuple(tag for tag in get("saved_model_tags").split(",") if tag)
    return ServerSettings(
        port=get("port"),
        rest_api_port=get("rest_api_port"),
        rest_api_timeout_in_ms=get("rest_api_timeout_in_ms"),
        rest_api_enable_cors_support=get("rest_api_enable_cors_support"),
        rest_api_num_threads=get("rest_api_num_threads"),
        grpc_max_threads=get("grpc_max_threads"),
        enable_grpc_healthcheck_service=get("enable_grpc_healthcheck_service"),
        model_name=get("model_name"),
        model_base_path=get("model_base_path"),
        model_config_file=get("model_config_file"),
        model_config_file_poll_wait_seconds=get("model_config_file_poll_wait_seconds"),
        file_system_poll_wait_seconds=get("file_system_poll_wait_seconds"),
        allow_version_labels_for_unavailable_models=get("allow_version_labels_for_unavailable_models"),
        max_num_load_retries=get("max_num_load_retries"),
        load_retry_interval_micros=get("load_retry_interval_micros"),
        saved_model_tags=tags,
        enable_model_warmup=get("enable_model_warmup"),
        num_request_iterations_for_warmup=get("num_request_iterations_for_warmup"),
        models=tuple(models),
        enable_batching=get("enable_batching"),
        batching_parameters_file=get("batching_parameters_file"),
        batching=batching,
        monitoring_config_file=get("monitoring_config_file"),
        monitoring=monitoring,
        path_map=path_map,
        drain_seconds=get("tfkit_drain_seconds"),
        tfkit_access_log=get("tfkit_access_log"),
    )
