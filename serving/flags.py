"""tensorflow_model_server's command line, read the way the 2.19.0 binary reads it.

`FLAGS` is the one table of flags: every one of the binary's 48 flags (model_servers/main.cc, with the
defaults of model_servers/server.h) plus the kit's `--tfkit_*` extensions. `tfkit serve --help`, the
README's flag lists and the Kubernetes / Dockerfile tests all derive from it.

Grammar (tsl `Flags::Parse`, xla/tsl/util/command_line_flags.cc): a flag is one argument `--name=value`;
a bool may also be a bare `--name`; bool values are true/false (any case) or 1/0; int32/int64/float
values are read like sscanf (leading blanks allowed, nothing after the number). A value that does not
read stops the binary with `Couldn't interpret value V for flag F.` and its usage (exit status 255);
the kit prints the same line and exits 255 too (`FlagValueError`).

Where the binary would silently misread a command line (it prints `unknown argument: ...` and starts
with defaults), the kit stops with exit status 2 and says what the real binary would do
(`FlagError`): `--port 9000`, `-port=9000`, a non-bool `--port`, `--enable_model_warmup false`,
positional words, `--`, an int that overflows int32, and flags the binary does not know.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int32", "int64", "float", "bool", "string", "list"]
# What a flag does in `tfkit serve`: "kit" = implemented; "none" = accepted, logged once as having no
# effect here (GPU/TPU/XLA/ALTS/profiler/... concerns).
Effect = Literal["kit", "none"]


class FlagError(ValueError):
    """A command line the real binary would misread or that the kit refuses (exit status 2)."""

    exit_code = 2


class FlagValueError(FlagError):
    """A value the real binary cannot read either: it prints its usage and exits 255."""

    exit_code = 255


@dataclass(frozen=True)
class Flag:
    name: str
    kind: Kind
    default: Any
    help: str
    effect: Effect = "kit"
    per_cpu: int = 0  # default = per_cpu x schedulable CPUs when non-zero (upstream's auto defaults)

    def default_value(self) -> Any:
        return self.per_cpu * (os.cpu_count() or 1) if self.per_cpu else self.default

    def default_text(self) -> str:
        if self.per_cpu:
            return f"{self.per_cpu} x CPUs" if self.per_cpu > 1 else "CPUs"
        if self.kind == "bool":
            return "true" if self.default else "false"
        if self.kind in ("string", "list"):
            return f'"{self.default}"' if self.kind == "string" else "(none)"
        return str(self.default)


def _f(name: str, kind: Kind, default: Any, help: str, effect: Effect = "kit", per_cpu: int = 0) -> Flag:
    return Flag(name, kind, default, help, effect, per_cpu)


NO_EFFECT: Effect = "none"
FLAGS: tuple[Flag, ...] = (
    _f("port", "int32", 8500, "gRPC TCP port (0 = no TCP listener; then --grpc_socket_path is needed)."),
    _f("grpc_socket_path", "string", "", "Also serve gRPC on this UNIX socket (relative or absolute)."),
    _f("rest_api_port", "int32", 0, "HTTP/REST port; 0 = no REST. Must differ from --port."),
    _f(
        "rest_api_num_threads",
        "int32",
        0,
        "REST worker threads (the kit serves REST on asyncio).",
        NO_EFFECT,
        4,
    ),
    _f("rest_api_timeout_in_ms", "int32", 30000, "Deadline of a REST predict/classify/regress call."),
    _f("rest_api_enable_cors_support", "bool", False, "Send CORS headers on REST responses."),
    _f("enable_batching", "bool", False, "Batch concurrent inference requests."),
    _f(
        "allow_version_labels_for_unavailable_models",
        "bool",
        False,
        "A new version label may name a version that is not AVAILABLE (moving one still may not).",
    ),
    _f("batching_parameters_file", "string", "", "Text-format BatchingParameters (needs --enable_batching)."),
    _f(
        "enable_per_model_batching_parameters",
        "bool",
        False,
        "Read each version's batching_params.pbtxt (with --enable_batching); only the thread pool of "
        "--batching_parameters_file stays global.",
    ),
    _f("model_config_file", "string", "", "Text-format ModelServerConfig; replaces --model_name/_base_path."),
    _f(
        "model_config_file_poll_wait_seconds", "int32", 0, "Re-read --model_config_file every N s (0 = once)."
    ),
    _f("model_name", "string", "default", "Name of the single model (without --model_config_file)."),
    _f("model_base_path", "string", "", "Directory or URI holding the single model's version directories."),
    _f("num_load_threads", "int32", 0, "Threads loading versions after startup (0 = one at a time)."),
    _f("num_unload_threads", "int32", 0, "Threads unloading versions (0 = one at a time)."),
    _f("max_num_load_retries", "int32", 5, "Retries after a failed version load (0 = one attempt)."),
    _f("load_retry_interval_micros", "int64", 60_000_000, "Wait between load retries, microseconds."),
    _f("file_system_poll_wait_seconds", "int32", 1, "Poll base paths every N s (0 = once, <0 = never)."),
    _f("flush_filesystem_caches", "bool", True, "Flush TF file-system caches after loads.", NO_EFFECT),
    _f("tensorflow_session_parallelism", "int64", 0, "Intra- and inter-op threads of TF (0 = auto)."),
    _f(
        "tensorflow_session_config_file",
        "string",
        "",
        "Text-format tensorflow.ConfigProto; its thread counts are replaced by the parallelism flags.",
    ),
    _f("tensorflow_intra_op_parallelism", "int64", 0, "Threads inside one TF op (0 = auto)."),
    _f("tensorflow_inter_op_parallelism", "int64", 0, "TF ops run at the same time (0 = auto)."),
    _f("use_alts_credentials", "bool", False, "Google ALTS credentials on gRPC (GCP only).", NO_EFFECT),
    _f("ssl_config_file", "string", "", "Text-format SSLConfig: TLS on gRPC (key, cert, CA, client_verify)."),
    _f(
        "platform_config_file",
        "string",
        "",
        "Text-format PlatformConfigMap replacing the TensorFlow platform setup (refused by the kit).",
    ),
    _f("per_process_gpu_memory_fraction", "float", 0.0, "GPU memory share per process.", NO_EFFECT),
    _f("saved_model_tags", "string", "serve", "Comma-separated MetaGraph tags to load."),
    _f("grpc_channel_arguments", "string", "", "Comma-separated gRPC server arguments, e.g. grpc.x=1."),
    _f(
        "grpc_max_threads",
        "int32",
        0,
        "Concurrent gRPC calls, when given (more: RESOURCE_EXHAUSTED).",
        per_cpu=4,
    ),
    _f("enable_model_warmup", "bool", True, "Replay assets.extra/tf_serving_warmup_requests at load."),
    _f("num_request_iterations_for_warmup", "int32", 0, "Replays per warmup record (used when > 0)."),
    _f("version", "bool", False, "Print the ModelServer and TensorFlow versions and exit."),
    _f("monitoring_config_file", "string", "", "Text-format MonitoringConfig (metrics on the REST port)."),
    _f(
        "remove_unused_fields_from_bundle_metagraph",
        "bool",
        True,
        "Drop MetaGraphDef parts that serving never reads after load.",
    ),
    _f("prefer_tflite_model", "bool", False, "Serve <version>/model.tflite when present (experimental)."),
    _f("num_tflite_pools", "int32", 0, "TFLite interpreter pools per model (experimental).", NO_EFFECT, 1),
    _f("num_tflite_interpreters_per_pool", "int32", 1, "Interpreters per TFLite pool.", NO_EFFECT),
    _f(
        "enable_signature_method_name_check",
        "bool",
        False,
        "Classify/Regress require the matching SignatureDef method_name.",
    ),
    _f("xla_cpu_compilation_enabled", "bool", False, "Allow XLA:CPU JIT (experimental).", NO_EFFECT),
    _f("xla_gpu_compilation_enabled", "bool", False, "Allow XLA:CPU and XLA:GPU JIT.", NO_EFFECT),
    _f("enable_profiler", "bool", True, "Serve the TF profiler service on gRPC.", NO_EFFECT),
    _f("thread_pool_factory_config_file", "string", "", "Text-format ThreadPoolConfig.", NO_EFFECT),
    _f("mixed_precision", "string", "", "Mixed-precision mode (e.g. bfloat16 on TPU/oneDNN).", NO_EFFECT),
    _f("skip_initialize_tpu", "bool", False, "Do not initialize the TPU system.", NO_EFFECT),
    _f("enable_grpc_healthcheck_service", "bool", False, "Serve grpc.health.v1.Health."),
    _f(
        "enable_serialization_as_tensor_content",
        "bool",
        False,
        "gRPC Predict responses carry tensor_content instead of typed value lists.",
    ),
    _f("tfkit_path_map", "list", [], "Kit: FROM=TO reads base paths under FROM from dir TO (repeatable)."),
    _f("tfkit_drain_seconds", "float", 10.0, "Kit: grace period for in-flight requests on SIGTERM."),
    _f("tfkit_access_log", "bool", False, "Kit: one structured log line per request (JSON off a terminal)."),
    _f("tfkit_workers", "int32", 1, "Kit: server processes sharing the ports (SO_REUSEPORT)."),
)
BY_NAME = {flag.name: flag for flag in FLAGS}
UPSTREAM_FLAGS = tuple(flag for flag in FLAGS if not flag.name.startswith("tfkit_"))
NO_EFFECT_FLAGS = tuple(flag.name for flag in FLAGS if flag.effect == NO_EFFECT)

_INT = re.compile(r"[ \t\n\r\f\v]*[+-]?\d+")
_FLOAT = re.compile(
    r"[ \t\n\r\f\v]*[+-]?(?:inf(?:inity)?|nan|0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)",
    re.IGNORECASE,
)
_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def usage() -> str:
    """`tfkit serve --help`: every flag with its type and default, like tsl's `Flags::Usage`."""
    lines = [
        "usage: tfkit serve --flag=value ...",
        "",
        "tensorflow_model_server 2.19.0's flags (same names, defaults, meaning); --tfkit_* are the kit's.",
        "Forms, as the real binary reads them: --flag=value; booleans also --flag.",
        'Flags marked "no effect here" are accepted and logged at start: they concern GPUs, TPUs, XLA,',
        "ALTS, the profiler or C++ internals.",
        "Flags:",
    ]
    for flag in FLAGS:
        note = "  (no effect here)" if flag.effect == NO_EFFECT else ""
        lines.append(f"  --{flag.name}={flag.default_text()}  ({flag.kind}){note}")
        lines.append(f"      {flag.help}")
    return "\n".join(lines)


def _number(flag: Flag, raw: str) -> Any:
    """An int32/int64/float value as sscanf("%d%c") reads it, else upstream's value error."""
    if flag.kind == "float":
        match = _FLOAT.fullmatch(raw)
        if match is None:
            raise FlagValueError(f"Couldn't interpret value {raw} for flag {flag.name}.")
        text = raw.strip()
        return float.fromhex(text) if "x" in text.lower() else float(text)
    if _INT.fullmatch(raw) is None:
        raise FlagValueError(f"Couldn't interpret value {raw} for flag {flag.name}.")
    value = int(raw)
    low, high = _RANGES[flag.kind]
    if not low <= value <= high:
        raise FlagError(
            f"--{flag.name}={raw} is outside the {flag.kind} range; tensorflow_model_server would not "
            "report it and would run with a wrapped-around number"
        )
    return value


def _convert(flag: Flag, raw: str) -> Any:
    if flag.kind == "bool":
        if raw.lower() == "true" or raw == "1":
            return True
        if raw.lower() == "false" or raw == "0":
            return False
        raise FlagValueError(f"Couldn't interpret value {raw} for flag {flag.name}.")
    if flag.kind in ("string", "list"):
        return raw
    return _number(flag, raw)


def _misread(token: str, nxt: str | None) -> FlagError:
    """Why the real binary would misread `token` (which is not a `--name=value` of a known flag)."""
    ignored = f"tensorflow_model_server would print 'unknown argument: {token}' and start without it"
    if token == "--":
        return FlagError(
            "'--': tensorflow_model_server stops reading flags there and ignores everything after it "
            "(it prints 'unknown argument: --' and starts anyway)"
        )
    if token.startswith("--"):
        name = token[2:].partition("=")[0]
        flag = BY_NAME.get(name)
        if flag is None:
            return FlagError(
                f"Unknown flag --{name}: tensorflow_model_server 2.19.0 has no such flag; {ignored}"
            )
        value = "" if nxt is None or nxt.startswith("-") else f" {nxt}"
        both = f" (and '{nxt}')" if value else ""
        return FlagError(
            f"'--{name}{value}': --{name} is a {flag.kind} flag and takes its value only as --{name}=VALUE; "
            f"tensorflow_model_server would ignore '--{name}'{both} as unknown argument(s) and run with "
            f"the default --{name}={flag.default_text()}"
        )
    if token.startswith("-") and len(token) > 1:
        return FlagError(f"'{token}': flags take two dashes (--{token.lstrip('-')}); {ignored}")
    return FlagError(
        f"Unexpected argument '{token}': tensorflow_model_server takes no positional arguments; {ignored}"
    )


def parse_command_line(argv: Sequence[str]) -> dict[str, Any]:
    """argv -> {flag name: value} for every flag in `FLAGS` (defaults filled in); `given` lists the flags
    that were on the command line, in order. Raises `FlagError` / `FlagValueError`."""
    values: dict[str, Any] = {flag.name: flag.default_value() for flag in FLAGS}
    values["tfkit_path_map"] = []
    given: list[str] = []
    args = list(argv)
    for i, token in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        name, eq, raw = token[2:].partition("=") if token.startswith("--") else ("", "", "")
        flag = BY_NAME.get(name)
        if flag is None or (not eq and flag.kind != "bool"):
            raise _misread(token, nxt)
        if not eq and nxt is not None and nxt.lower() in ("true", "false", "1", "0"):
            raise FlagError(
                f"'{token} {nxt}': tensorflow_model_server reads {token} as true and ignores '{nxt}' as an "
                f"unknown argument; write {token}={nxt}"
            )
        value = True if not eq else _convert(flag, raw)
        if flag.kind == "list":
            values[name] = [*values[name], value]
        else:
            values[name] = value  # the last occurrence wins, as in tsl
        given.append(name)
    values["__given__"] = tuple(given)
    return values


def parse_flags(argv: Sequence[str]) -> Any:
    """tensorflow_model_server's argv -> `ServerSettings` (reading the config files the flags name).

    Raises `FlagError` for command lines and a `ServingError` (upstream text) for invalid options.
    """
    from serving.options import build_settings

    return build_settings(parse_command_line(argv))
