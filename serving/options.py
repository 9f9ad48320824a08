"""Parsed flags -> `ServerSettings`, with the checks of upstream's `Server::BuildAndStart` (server.cc),
and `load_options`: the `LoadOptions` (SessionBundleConfig) every version loads with.

The checks run in upstream's order and with its texts (INVALID_ARGUMENT as a `ServingError`, printed by
the CLI as `Failed to start server. Error: ...`). What the kit refuses on its own (flags it cannot honour,
values the real binary would misread) is a `FlagError` (exit status 2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from serving.flags import BY_NAME, NO_EFFECT, FlagError
from serving.servable import LoadOptions
from serving.settings import BatchingSettings, MonitoringSettings, PathMapping, ServerSettings
from serving.status import InvalidArgument

log = logging.getLogger(__name__)
PARALLELISM_CONFLICT = (
    "Either configure server_options.tensorflow_session_parallelism or "
    "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
    "separately. You cannot configure all."
)


def _path_mapping(raw: str) -> PathMapping:
    source, eq, target = raw.partition("=")
    if not eq or not source.startswith("/") or not target:
        raise FlagError(
            f"Invalid value for --tfkit_path_map: {raw!r} (expected /FROM=TO, e.g. /models=./models)"
        )
    return PathMapping(source=source.rstrip("/") or "/", target=str(Path(target).resolve()))


def channel_arguments(raw: str) -> tuple[tuple[str, int | str], ...]:
    """`--grpc_channel_arguments` as server.cc parseGrpcChannelArgs reads it: comma-separated `key=value`,
    a value that reads as int32 (absl SimpleAtoi) passed as int, else as string."""
    if not raw:
        return ()
    parsed: list[tuple[str, int | str]] = []
    for item in raw.split(","):
        parts = item.split("=")
        if len(parts) != 2 or not parts[0]:
            raise FlagError(
                f"--grpc_channel_arguments: {item!r} is not key=value; tensorflow_model_server would read "
                "past its argument list (undefined behaviour) or drop what follows a second '='"
            )
        key, value = parts
        try:
            number = int(value.strip())
        except ValueError:
            parsed.append((key, value))
            continue
        parsed.append((key, number) if -(2**31) <= number < 2**31 else (key, value))
    return tuple(parsed)


def _check_session_config(path: str) -> None:
    """Parse `--tensorflow_session_config_file` as upstream does; name the fields the kit cannot apply."""
    from serving.config import read_session_config_file

    proto = read_session_config_file(path)
    fields = [f.name for f, _ in proto.ListFields()]
    threads = {"intra_op_parallelism_threads", "inter_op_parallelism_threads"} & set(fields)
    if threads:
        log.warning(
            "%s: %s replaced by the --tensorflow_*_parallelism flags (tensorflow_model_server does the same)",
            path,
            ", ".join(sorted(threads)),
        )
    rest = sorted(set(fields) - threads)
    if rest:
        log.warning("%s: %s have no effect in tfkit serve (TF2 eager runtime)", path, ", ".join(rest))


def build_settings(values: dict[str, Any]) -> ServerSettings:
    """Flag values (from `flags.parse_command_line`) -> `ServerSettings`, reading the files they name."""
    from serving import config

    if values["version"]:
        return ServerSettings(version=True)
    if values["platform_config_file"]:
        raise FlagError(
            "--platform_config_file is not supported by tfkit serve: give the TensorFlow settings as flags "
            "(--enable_batching, --batching_parameters_file, --tensorflow_*_parallelism, ...)"
        )
    path_map = tuple(_path_mapping(raw) for raw in values["tfkit_path_map"])
    if values["tfkit_drain_seconds"] < 0:
        raise FlagError("Invalid value for --tfkit_drain_seconds: must be >= 0")
    if values["tfkit_workers"] < 1:
        raise FlagError("Invalid value for --tfkit_workers: must be >= 1")
    channel_args = channel_arguments(values["grpc_channel_arguments"])
    # server.cc BuildAndStart, in its order.
    if values["port"] == 0 and not values["grpc_socket_path"]:
        raise InvalidArgument(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
        )
    if values["use_alts_credentials"] and values["ssl_config_file"]:
        raise InvalidArgument("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    if not values["model_base_path"] and not values["model_config_file"]:
        raise InvalidArgument(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    if values["model_config_file"]:
        models = config.read_model_config_file(values["model_config_file"], path_map)
    else:
        models = config.single_model_config(values["model_name"], values["model_base_path"], path_map)
    batching: BatchingSettings | None = None
    if values["enable_batching"]:
        if values["batching_parameters_file"]:
            batching = config.read_batching_parameters_file(values["batching_parameters_file"])
        else:
            batching = BatchingSettings()
    elif values["batching_parameters_file"]:
        raise InvalidArgument(
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true."
        )
    if values["tensorflow_session_config_file"]:
        _check_session_config(values["tensorflow_session_config_file"])
    parallelism = [values[f"tensorflow_{k}_parallelism"] for k in ("intra_op", "inter_op", "session")]
    if all(p > 0 for p in parallelism):
        raise InvalidArgument(PARALLELISM_CONFLICT)
    ssl = config.read_ssl_config_file(values["ssl_config_file"]) if values["ssl_config_file"] else None
    # The monitoring config is read only when the REST server starts (server.cc).
    monitoring = MonitoringSettings()
    rest_on = values["rest_api_port"] != 0 and values["rest_api_port"] != values["port"]
    if values["monitoring_config_file"] and rest_on:
        monitoring = config.read_monitoring_config_file(values["monitoring_config_file"])
    given: tuple[str, ...] = values["__given__"]
    return ServerSettings(
        port=values["port"],
        grpc_socket_path=values["grpc_socket_path"],
        rest_api_port=values["rest_api_port"],
        rest_api_timeout_in_ms=values["rest_api_timeout_in_ms"],
        rest_api_enable_cors_support=values["rest_api_enable_cors_support"],
        grpc_max_threads=values["grpc_max_threads"] if "grpc_max_threads" in given else 0,
        grpc_channel_arguments=channel_args,
        ssl=ssl,
        enable_grpc_healthcheck_service=values["enable_grpc_healthcheck_service"],
        model_name=values["model_name"],
        model_base_path=values["model_base_path"],
        model_config_file=values["model_config_file"],
        model_config_file_poll_wait_seconds=values["model_config_file_poll_wait_seconds"],
        file_system_poll_wait_seconds=values["file_system_poll_wait_seconds"],
        allow_version_labels_for_unavailable_models=values["allow_version_labels_for_unavailable_models"],
        num_load_threads=values["num_load_threads"],
        num_unload_threads=values["num_unload_threads"],
        max_num_load_retries=values["max_num_load_retries"],
        load_retry_interval_micros=values["load_retry_interval_micros"],
        saved_model_tags=tuple(tag for tag in values["saved_model_tags"].split(",") if tag),
        enable_model_warmup=values["enable_model_warmup"],
        num_request_iterations_for_warmup=values["num_request_iterations_for_warmup"],
        models=tuple(models),
        tensorflow_session_parallelism=values["tensorflow_session_parallelism"],
        tensorflow_intra_op_parallelism=values["tensorflow_intra_op_parallelism"],
        tensorflow_inter_op_parallelism=values["tensorflow_inter_op_parallelism"],
        tensorflow_session_config_file=values["tensorflow_session_config_file"],
        enable_signature_method_name_check=values["enable_signature_method_name_check"],
        enable_per_model_batching_parameters=(
            values["enable_per_model_batching_parameters"] and values["enable_batching"]
        ),
        prefer_tflite_model=values["prefer_tflite_model"],
        remove_unused_fields_from_bundle_metagraph=values["remove_unused_fields_from_bundle_metagraph"],
        enable_serialization_as_tensor_content=values["enable_serialization_as_tensor_content"],
        enable_batching=values["enable_batching"],
        batching_parameters_file=values["batching_parameters_file"],
        batching=batching,
        monitoring_config_file=values["monitoring_config_file"],
        monitoring=monitoring,
        no_effect_flags=tuple(dict.fromkeys(n for n in given if BY_NAME[n].effect == NO_EFFECT)),
        path_map=path_map,
        drain_seconds=values["tfkit_drain_seconds"],
        tfkit_access_log=values["tfkit_access_log"],
        tfkit_workers=values["tfkit_workers"],
    )


def load_options(settings: ServerSettings) -> LoadOptions:
    """The SessionBundleConfig that server.cc builds from the flags: the session config file, whose thread
    counts the *_parallelism flags always replace (server.cc sets them even to 0 = TensorFlow's choice)."""
    session_config = b""
    intra, inter = settings.intra_op_threads, settings.inter_op_threads
    if settings.tensorflow_session_config_file or intra or inter:
        from tensorflow.core.protobuf import config_pb2

        from serving.config import read_session_config_file

        proto = config_pb2.ConfigProto()
        if settings.tensorflow_session_config_file:
            proto = read_session_config_file(settings.tensorflow_session_config_file)
        proto.intra_op_parallelism_threads = intra
        proto.inter_op_parallelism_threads = inter
        session_config = proto.SerializeToString()
    return LoadOptions(
        enable_signature_method_name_check=settings.enable_signature_method_name_check,
        prefer_tflite_model=settings.prefer_tflite_model,
        remove_unused_fields_from_bundle_metagraph=settings.remove_unused_fields_from_bundle_metagraph,
        session_config=session_config,
    )
