"""tensorflow_model_server's command line as upstream reads it, as data.

Sources (2.19.0): model_servers/main.cc (the 48 flags), model_servers/server.h (their defaults),
model_servers/server.cc (Server::BuildAndStart checks, parseGrpcChannelArgs, BuildServerCredentials,
the REST port rules), tsl's xla/tsl/util/command_line_flags.cc (Flags::Parse, ParseInt32Flag,
ParseInt64Flag, ParseBoolFlag, ParseFloatFlag, ParseStringFlag) with its test
command_line_flags_test.cc, and the flag cases of model_servers/tensorflow_model_server_test.py (live).
Rows whose real-binary outcome is a silent misread expect the kit's refusal (exit 2) instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from serving.flags import BY_NAME, UPSTREAM_FLAGS, FlagError, parse_command_line, parse_flags
from serving.status import ServingError
from tests.support.server import REPO, TFKIT, LiveServer, free_port, running_server, start_server
from tests.support.upstream_core import (
    VERSION,
    half_plus_models,
    predict,
    run_to_exit,
    self_signed,
    wait_grpc,
    wait_log,
)

CPUS = os.cpu_count() or 1
BASE = "--model_base_path=/models/m"

# main.cc flag list with server.h defaults: (name, tsl type, default).
# fmt: off
UPSTREAM_DEFAULTS: list[tuple[str, str, Any]] = [
    ("port", "int32", 8500), ("grpc_socket_path", "string", ""), ("rest_api_port", "int32", 0),
    ("rest_api_num_threads", "int32", 4 * CPUS), ("rest_api_timeout_in_ms", "int32", 30000),
    ("rest_api_enable_cors_support", "bool", False), ("enable_batching", "bool", False),
    ("allow_version_labels_for_unavailable_models", "bool", False),
    ("batching_parameters_file", "string", ""), ("enable_per_model_batching_parameters", "bool", False),
    ("model_config_file", "string", ""), ("model_config_file_poll_wait_seconds", "int32", 0),
    ("model_name", "string", "default"), ("model_base_path", "string", ""), ("num_load_threads", "int32", 0),
    ("num_unload_threads", "int32", 0), ("max_num_load_retries", "int32", 5),
    ("load_retry_interval_micros", "int64", 60_000_000), ("file_system_poll_wait_seconds", "int32", 1),
    ("flush_filesystem_caches", "bool", True), ("tensorflow_session_parallelism", "int64", 0),
    ("tensorflow_session_config_file", "string", ""), ("tensorflow_intra_op_parallelism", "int64", 0),
    ("tensorflow_inter_op_parallelism", "int64", 0), ("use_alts_credentials", "bool", False),
    ("ssl_config_file", "string", ""), ("platform_config_file", "string", ""),
    ("per_process_gpu_memory_fraction", "float", 0.0), ("saved_model_tags", "string", "serve"),
    ("grpc_channel_arguments", "string", ""), ("grpc_max_threads", "int32", 4 * CPUS),
    ("enable_model_warmup", "bool", True), ("num_request_iterations_for_warmup", "int32", 0),
    ("version", "bool", False), ("monitoring_config_file", "string", ""),
    ("remove_unused_fields_from_bundle_metagraph", "bool", True), ("prefer_tflite_model", "bool", False),
    ("num_tflite_pools", "int32", CPUS), ("num_tflite_interpreters_per_pool", "int32", 1),
    ("enable_signature_method_name_check", "bool", False), ("xla_cpu_compilation_enabled", "bool", False),
    ("xla_gpu_compilation_enabled", "bool", False), ("enable_profiler", "bool", True),
    ("thread_pool_factory_config_file", "string", ""), ("mixed_precision", "string", ""),
    ("skip_initialize_tpu", "bool", False), ("enable_grpc_healthcheck_service", "bool", False),
    ("enable_serialization_as_tensor_content", "bool", False),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "kind", "default"), UPSTREAM_DEFAULTS, ids=[r[0] for r in UPSTREAM_DEFAULTS]
)
def test_main_cc_flag_and_server_h_default(name: str, kind: str, default: Any) -> None:
    flag = BY_NAME[name]
    assert (flag.kind, flag.default_value()) == (kind, default)
    assert parse_command_line([])[name] == default


def test_main_cc_has_exactly_these_48_flags() -> None:
    assert [f.name for f in UPSTREAM_FLAGS] == [r[0] for r in UPSTREAM_DEFAULTS]


Row = tuple[str, list[str], dict[str, Any] | tuple[int, str]]
# fmt: off
PARSE_ROWS: list[Row] = [
    ("command_line_flags_test.cc BasicUsage",
     ["--port=20", "--load_retry_interval_micros=214748364700", "--enable_batching", "--model_name=else"],
     {"port": 20, "load_retry_interval_micros": 214748364700, "enable_batching": True, "model_name": "else"}),
    ("command_line_flags_test.cc BadIntValue",
     ["--port=notanumber"], (255, "value notanumber for flag port.")),
    ("command_line_flags_test.cc BadBoolValue",
     ["--enable_batching=notabool"], (255, "for flag enable_batching.")),
    ("command_line_flags.cc ParseFloatFlag: bad value",
     ["--per_process_gpu_memory_fraction=x"], (255, "value x")),
    ("command_line_flags.cc ParseFloatFlag: exponent",
     ["--per_process_gpu_memory_fraction=5e-1"], {"per_process_gpu_memory_fraction": 0.5}),
    ("command_line_flags.cc ParseStringFlag: empty value", ["--grpc_socket_path="], {"grpc_socket_path": ""}),
    ("command_line_flags.cc ParseStringFlag: value with '='",
     ["--mixed_precision=a=b"], {"mixed_precision": "a=b"}),
    ("command_line_flags.cc ParseInt32Flag: leading blanks (sscanf)", ["--port= 9000"], {"port": 9000}),
    ("command_line_flags.cc ParseInt32Flag: sign", ["--port=+9000"], {"port": 9000}),
    ("command_line_flags.cc ParseInt32Flag: negative",
     ["--file_system_poll_wait_seconds=-1"], {"file_system_poll_wait_seconds": -1}),
    ("command_line_flags.cc ParseInt32Flag: trailing text",
     ["--port=9000x"], (255, "value 9000x for flag port.")),
    ("command_line_flags.cc ParseInt32Flag: trailing blank", ["--port=9000 "], (255, "for flag port.")),
    ("command_line_flags.cc ParseInt32Flag: hex", ["--port=0x10"], (255, "value 0x10 for flag port.")),
    ("command_line_flags.cc ParseInt32Flag: empty",
     ["--port="], (255, "Couldn't interpret value  for flag port.")),
    ("command_line_flags.cc ParseInt32Flag: float", ["--port=1.5"], (255, "value 1.5 for flag port.")),
    ("command_line_flags.cc ParseInt32Flag: overflow wraps silently",
     ["--port=4294967297"], (2, "int32 range")),
    ("command_line_flags.cc ParseInt64Flag: beyond int32",
     ["--tensorflow_session_parallelism=5000000000"], {"tensorflow_session_parallelism": 5000000000}),
    ("command_line_flags.cc ParseBoolFlag: bare", ["--enable_batching"], {"enable_batching": True}),
    ("command_line_flags.cc ParseBoolFlag: TRUE", ["--enable_batching=TRUE"], {"enable_batching": True}),
    ("command_line_flags.cc ParseBoolFlag: True", ["--enable_batching=True"], {"enable_batching": True}),
    ("command_line_flags.cc ParseBoolFlag: 1", ["--enable_batching=1"], {"enable_batching": True}),
    ("command_line_flags.cc ParseBoolFlag: false",
     ["--enable_model_warmup=false"], {"enable_model_warmup": False}),
    ("command_line_flags.cc ParseBoolFlag: FALSE",
     ["--enable_model_warmup=FALSE"], {"enable_model_warmup": False}),
    ("command_line_flags.cc ParseBoolFlag: 0", ["--enable_model_warmup=0"], {"enable_model_warmup": False}),
    ("command_line_flags.cc ParseBoolFlag: yes", ["--enable_batching=yes"], (255, "value yes for flag")),
    ("command_line_flags.cc ParseBoolFlag: empty",
     ["--enable_batching="], (255, "for flag enable_batching.")),
    ("command_line_flags.cc ParseBoolFlag: longer name", ["--enable_batchingx"], (2, "Unknown flag")),
    ("command_line_flags.cc Flags::Parse: last wins", ["--port=1", "--port=2"], {"port": 2}),
    ("command_line_flags.cc Flags::Parse: '--' ends flags", ["--", "--port=1"], (2, "stops reading flags")),
    ("main.cc unknown argument: flag", ["--nope=1"], (2, "Unknown flag --nope")),
    ("main.cc unknown argument: positional", ["serve"], (2, "takes no positional arguments")),
    ("main.cc unknown argument: single dash", ["-port=9000"], (2, "flags take two dashes (--port=9000)")),
    ("main.cc unknown argument: '--port 9000'",
     ["--port", "9000"], (2, "takes its value only as --port=VALUE")),
    ("main.cc unknown argument: bare string flag", ["--model_name"], (2, "ignore '--model_name'")),
    ("main.cc unknown argument: '--enable_model_warmup false'",
     ["--enable_model_warmup", "false"], (2, "reads --enable_model_warmup as true and ignores 'false'")),
    ("main.cc unknown argument: '--enable_batching 1'",
     ["--enable_batching", "1"], (2, "write --enable_batching=1")),
    ("main.cc --version", ["--version"], {"version": True}),
]
# fmt: on


@pytest.mark.parametrize(("case", "argv", "expected"), PARSE_ROWS, ids=[r[0] for r in PARSE_ROWS])
def test_tsl_flag_parsing(case: str, argv: list[str], expected: dict[str, Any] | tuple[int, str]) -> None:
    if isinstance(expected, dict):
        values = parse_command_line(argv)
        assert {k: values[k] for k in expected} == expected
        return
    code, text = expected
    with pytest.raises(FlagError) as info:
        parse_command_line(argv)
    assert info.value.exit_code == code and text in str(info.value), str(info.value)


# fmt: off
BUILD_ROWS: list[tuple[str, list[str], Any]] = [
    ("server.cc BuildAndStart: no gRPC listener",
     [BASE, "--port=0"],
     "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."),
    ("server.cc BuildAndStart: UNIX socket alone",
     [BASE, "--port=0", "--grpc_socket_path=/tmp/s"], {"port": 0, "grpc_socket_path": "/tmp/s"}),
    ("server.cc BuildAndStart: ALTS and SSL",
     [BASE, "--use_alts_credentials", "--ssl_config_file=/x"],
     "Either use_alts_credentials must be false or ssl_config_file must be empty."),
    ("server.cc BuildAndStart: no model",
     [], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
    ("server.cc BuildAndStart: batching file without batching",
     [BASE, "--batching_parameters_file=/x"],
     "server_options.batching_parameters_file is set without setting server_options.enable_batching to "
     "true."),
    ("server.cc BuildAndStart: all three parallelism flags",
     [BASE, "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1",
      "--tensorflow_session_parallelism=1"],
     "Either configure server_options.tensorflow_session_parallelism or (server_options.tensorflow_intra_op_"
     "parallelism, server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all."),
    ("server.cc BuildAndStart: intra-op only",
     [BASE, "--tensorflow_intra_op_parallelism=2"], {"intra_op_threads": 2, "inter_op_threads": 0}),
    ("server.cc BuildAndStart: inter-op only",
     [BASE, "--tensorflow_inter_op_parallelism=3"], {"intra_op_threads": 0, "inter_op_threads": 3}),
    ("server.cc BuildAndStart: session parallelism",
     [BASE, "--tensorflow_session_parallelism=4"], {"intra_op_threads": 4, "inter_op_threads": 4}),
    ("server.cc BuildAndStart: intra-op wins over session",
     [BASE, "--tensorflow_intra_op_parallelism=2", "--tensorflow_session_parallelism=4"],
     {"intra_op_threads": 2, "inter_op_threads": 0}),
    ("server.cc BuildAndStart: per-model batching needs --enable_batching",
     [BASE, "--enable_per_model_batching_parameters"], {"enable_per_model_batching_parameters": False}),
    ("server.cc BuildAndStart: per-model batching with batching",
     [BASE, "--enable_per_model_batching_parameters", "--enable_batching"],
     {"enable_per_model_batching_parameters": True}),
    ("server.cc parseGrpcChannelArgs: testGoodGrpcChannelArgs's value",
     [BASE, "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb"],
     {"grpc_channel_arguments": (("grpc.max_connection_age_ms", 2000), ("grpc.lb_policy_name", "grpclb"))}),
    ("server.cc parseGrpcChannelArgs: beyond int32 stays a string",
     [BASE, "--grpc_channel_arguments=a=4294967296"], {"grpc_channel_arguments": (("a", "4294967296"),)}),
    ("server.cc parseGrpcChannelArgs: no '=' (out-of-bounds read upstream)",
     [BASE, "--grpc_channel_arguments=a"], (2, "is not key=value")),
    ("server.cc BuildAndStart: tags split on ','",
     [BASE, "--saved_model_tags=serve,gpu"], {"saved_model_tags": ("serve", "gpu")}),
    ("server.cc BuildAndStart: monitoring config read only with REST",
     [BASE, "--monitoring_config_file=/nope"], {"monitoring_config_file": "/nope"}),
    ("server.cc BuildAndStart: monitoring config with REST",
     [BASE, "--rest_api_port=1", "--monitoring_config_file=/nope"], "/nope; No such file or directory"),
    ("server.cc BuildAndStart: REST port equal to gRPC port skips REST (monitoring unread)",
     [BASE, "--rest_api_port=8500", "--monitoring_config_file=/nope"], {"rest_api_port": 8500}),
    ("server.cc: --grpc_max_threads given", [BASE, "--grpc_max_threads=3"], {"grpc_max_threads": 3}),
    ("main.cc --model_config_file replaces --model_name/--model_base_path",
     ["--model_name=x", BASE, "--model_config_file=serving/models.config"], {"model_name": "x"}),
]
# fmt: on


@pytest.mark.parametrize(("case", "argv", "expected"), BUILD_ROWS, ids=[r[0] for r in BUILD_ROWS])
def test_server_cc_build_and_start(case: str, argv: list[str], expected: Any) -> None:
    if isinstance(expected, dict):
        settings = parse_flags(argv)
        assert {k: getattr(settings, k) for k in expected} == expected
    elif isinstance(expected, tuple):
        with pytest.raises(FlagError) as flag_error:
            parse_flags(argv)
        assert flag_error.value.exit_code == expected[0] and expected[1] in str(flag_error.value)
    else:
        with pytest.raises(ServingError) as info:
            parse_flags(argv)
        assert expected in info.value.message


# --- Live: tensorflow_model_server_test.py and server.cc, against real `tfkit serve` processes -------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return half_plus_models(tmp_path_factory.mktemp("flag-models"))


@pytest.fixture(scope="module")
def socket_dir() -> Iterator[Path]:
    path = Path(f"/tmp/tfkit-uds-{os.getpid()}")  # short: UNIX socket paths are limited to 107 bytes
    path.mkdir(exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def busy_server(
    models: dict[str, Path], socket_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server carrying many flags at once (each row below checks one of them)."""
    session = tmp_path_factory.mktemp("session") / "session.config"
    session.write_text("intra_op_parallelism_threads: 4 allow_soft_placement: true")
    flags = [
        "--model_name=default",
        f"--model_base_path={models['one']}",
        f"--grpc_socket_path={socket_dir / 'busy.sock'}",
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=2",
        f"--tensorflow_session_config_file={session}",
        "--enable_profiler=false",
        "--xla_cpu_compilation_enabled=true",
        "--num_load_threads=2",
        "--num_unload_threads=2",
    ]
    with running_server(flags, wait_models=["default"]) as live:
        yield live


def test_tensorflow_model_server_test_testPredictUDS(busy_server: LiveServer, socket_dir: Path) -> None:
    with grpc.insecure_channel(f"unix:{socket_dir / 'busy.sock'}") as channel:
        assert predict(channel, "default") == (3.0, VERSION)
    with grpc.insecure_channel(busy_server.grpc_target) as channel:  # and the TCP port as well
        assert predict(channel, "default") == (3.0, VERSION)
    assert f"Running gRPC ModelServer at UNIX socket {socket_dir / 'busy.sock'} ..." in busy_server.log()


def test_tensorflow_model_server_test_testGoodGrpcChannelArgs(busy_server: LiveServer) -> None:
    with grpc.insecure_channel(busy_server.grpc_target) as channel:
        assert predict(channel, "default") == (3.0, VERSION)


# fmt: off
LOG_ROWS = [
    ("server.cc BuildAndStart: intra/inter-op threads applied", "TensorFlow threads: intra-op 1, inter-op 2"),
    ("server.cc BuildAndStart: session config threads replaced by the flags",
     "intra_op_parallelism_threads replaced by the --tensorflow_*_parallelism flags"),
    ("main.cc: profiler/XLA flags accepted, no effect here",
     "Accepted with no effect in tfkit serve (GPU/TPU/XLA/ALTS/profiler/C++ internals): --enable_profiler "
     "--xla_cpu_compilation_enabled"),
    ("server.cc BuildServerCredentials: insecure without --ssl_config_file",
     "Using InsecureServerCredentials"),
]
# fmt: on


@pytest.mark.parametrize(("case", "text"), LOG_ROWS, ids=[r[0] for r in LOG_ROWS])
def test_start_log(busy_server: LiveServer, case: str, text: str) -> None:
    wait_log(busy_server, text)


def test_server_cc_grpc_socket_path_alone(models: dict[str, Path], socket_dir: Path) -> None:
    """server.cc BuildAndStart: --port=0 with --grpc_socket_path serves gRPC on the socket only."""
    sock = socket_dir / "alone.sock"
    flags = [f"--model_base_path={models['one']}", f"--grpc_socket_path={sock}"]
    with running_server(flags, wait_models=["default"], ports=(0, free_port())) as live:
        with grpc.insecure_channel(f"unix:{sock}") as channel:
            assert predict(channel, "default") == (3.0, VERSION)
        assert "Running gRPC ModelServer at 0.0.0.0" not in live.log()


def test_server_cc_build_server_credentials_ssl(models: dict[str, Path], tmp_path: Path) -> None:
    """server.cc BuildServerCredentials: SSLConfig server_key/server_cert/custom_ca/client_verify."""
    server_key, server_cert = self_signed(tmp_path, "server")
    client_key, client_cert = self_signed(tmp_path, "client")
    config = tmp_path / "ssl.config"
    fields = {"server_key": server_key, "server_cert": server_cert, "custom_ca": client_cert}
    text = "".join(f"{name}: {json.dumps(value)}\n" for name, value in fields.items())
    config.write_text(text + "client_verify: true\n")
    flags = [f"--model_base_path={models['one']}", f"--ssl_config_file={config}"]
    with running_server(flags, wait_models=["default"]) as live:
        target = f"localhost:{live.grpc_port}"
        good = grpc.ssl_channel_credentials(server_cert.encode(), client_key.encode(), client_cert.encode())
        with grpc.secure_channel(target, good) as channel:
            assert predict(channel, "default") == (3.0, VERSION)
        anonymous = grpc.ssl_channel_credentials(server_cert.encode())
        with grpc.secure_channel(target, anonymous) as channel, pytest.raises(grpc.RpcError):
            predict(channel, "default")
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError):
            predict(channel, "default")
        assert "Using SSL credentials" in live.log()


def test_server_cc_rest_port_busy_keeps_grpc(models: dict[str, Path]) -> None:
    """server.cc BuildAndStart: a REST server that fails to start is logged; gRPC keeps serving."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        live = start_server([f"--model_base_path={models['one']}"], ports=(free_port(), port))
        try:
            wait_grpc(live, live.grpc_target, "default")
            wait_log(live, f"Failed to start HTTP Server at localhost:{port}")
            with grpc.insecure_channel(live.grpc_target) as channel:
                assert predict(channel, "default") == (3.0, VERSION)
        finally:
            live.stop()


def test_server_cc_rest_port_same_as_grpc_port(models: dict[str, Path]) -> None:
    """server.cc BuildAndStart: --rest_api_port equal to --port skips REST with upstream's log line."""
    port = free_port()
    live = start_server([f"--model_base_path={models['one']}"], ports=(port, port))
    try:
        wait_grpc(live, live.grpc_target, "default")
        wait_log(live, "server_options.http_port cannot be same as grpc_port.")
    finally:
        live.stop()


# fmt: off
EXIT_ROWS = [
    ("tensorflow_model_server_test.py testBadModelConfig", "model_config_list { bad }", [],
     "Error parsing text-format tensorflow.serving.ModelServerConfig"),
    ("main.cc: Failed to start server (exit 255)", "", ["--model_base_path=relative"],
     "Failed to start server. Error: INVALID_ARGUMENT: Expected model default to have an absolute path"),
    ("main.cc: tsl value error prints and exits 255", "", ["--port=abc", BASE],
     "Couldn't interpret value abc for flag port."),
]
# fmt: on


@pytest.mark.parametrize(("case", "config", "flags", "text"), EXIT_ROWS, ids=[r[0] for r in EXIT_ROWS])
def test_start_stops_with_upstream_text(
    case: str, config: str, flags: list[str], text: str, tmp_path: Path
) -> None:
    argv = [*TFKIT, "serve", *flags]
    if config:
        (tmp_path / "models.config").write_text(config)
        argv.append(f"--model_config_file={tmp_path / 'models.config'}")
    done = run_to_exit(argv, REPO)
    assert done.returncode == 255 and text in done.stderr, done.stderr[-2000:]


def test_server_cc_grpc_max_threads(models: dict[str, Path], tmp_path: Path) -> None:
    """server.cc BuildAndStart: ResourceQuota::SetMaxThreads(--grpc_max_threads); a call beyond the limit
    gets RESOURCE_EXHAUSTED. One call is held in flight: a reload that waits for a model with no version."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.upstream_core import model_config, reload
    from tests.unit.core_savedmodels import add_version

    later = tmp_path / "later"
    later.mkdir()
    flags = [f"--model_base_path={models['one']}", "--grpc_max_threads=1"]
    with running_server(flags, wait_models=["default"]) as live, ThreadPoolExecutor(1) as pool:
        config = model_config(("default", models["one"]), ("later", later))
        pending = pool.submit(reload, live.grpc_target, config)
        wait_log(live, "No versions of servable later found under base path")
        with grpc.insecure_channel(live.grpc_target) as channel, pytest.raises(grpc.RpcError) as info:
            predict(channel, "default")
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        add_version(later, 1)
        assert pending.result(timeout=300) is None
        with grpc.insecure_channel(live.grpc_target) as channel:
            assert predict(channel, "later") == (3.0, 1)
