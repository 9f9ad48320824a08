"""serving.flags + serving.cli: tensorflow_model_server's command line -> ServerSettings."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from serving import cli
from serving.flags import FLAGS, FlagError, parse_flags
from serving.settings import BatchingSettings, MonitoringSettings, PathMapping, ServerSettings
from serving.status import InvalidArgument, NotFound

REPO = Path(__file__).resolve().parents[2]
BASE = "--model_base_path=/models/m"
BATCHING = REPO / "serving/batching.config"
MONITORING = REPO / "serving/monitoring.config"
MODELS = REPO / "serving/models.config"


def test_defaults_are_upstream_defaults() -> None:
    s = parse_flags([BASE])
    assert (s.port, s.rest_api_port, s.rest_api_timeout_in_ms) == (8500, 0, 30000)
    assert (s.model_name, s.model_config_file_poll_wait_seconds, s.file_system_poll_wait_seconds) == (
        "default",
        0,
        1,
    )
    assert s.enable_model_warmup and s.warmup_iterations == 1
    assert not (s.enable_batching or s.rest_api_enable_cors_support or s.enable_grpc_healthcheck_service)
    assert not s.allow_version_labels_for_unavailable_models
    assert (s.max_num_load_retries, s.load_retry_interval_micros) == (5, 60_000_000)
    assert s.saved_model_tags == ("serve",)
    assert s.batching is None and s.monitoring == MonitoringSettings()
    assert [(m.name, m.base_path) for m in s.models] == [("default", "/models/m")]


def test_every_flag_is_parsed_into_its_field(tmp_path: Path) -> None:
    s = parse_flags(
        [
            "--port=9000",
            "--rest_api_port=9001",
            "--rest_api_timeout_in_ms=1500",
            "--rest_api_enable_cors_support=true",
            "--rest_api_num_threads=3",
            "--grpc_max_threads=5",
            "--enable_grpc_healthcheck_service",
            "--model_name=m",
            "--model_base_path=/models/m",
            "--model_config_file_poll_wait_seconds=60",
            "--file_system_poll_wait_seconds=-1",
            "--allow_version_labels_for_unavailable_models=1",
            "--max_num_load_retries=0",
            "--load_retry_interval_micros=1000",
            "--saved_model_tags=serve,gpu",
            "--enable_model_warmup=false",
            "--num_request_iterations_for_warmup=3",
            "--enable_batching=true",
            f"--batching_parameters_file={BATCHING}",
            f"--monitoring_config_file={MONITORING}",
            f"--tfkit_path_map=/models={tmp_path}",
            "--tfkit_path_map=/other=rel",
            "--tfkit_drain_seconds=2.5",
        ]
    )
    assert (s.port, s.rest_api_port, s.rest_api_timeout_in_ms, s.rest_timeout_seconds) == (
        9000,
        9001,
        1500,
        1.5,
    )
    assert s.rest_api_enable_cors_support and s.enable_grpc_healthcheck_service
    assert (s.rest_api_num_threads, s.grpc_max_threads) == (3, 5)
    assert (s.model_name, s.model_base_path) == ("m", "/models/m")
    assert (s.model_config_file_poll_wait_seconds, s.file_system_poll_wait_seconds) == (60, -1)
    assert s.allow_version_labels_for_unavailable_models
    assert (s.max_num_load_retries, s.load_retry_interval_micros, s.load_retry_interval_seconds) == (
        0,
        1000,
        0.001,
    )
    assert s.saved_model_tags == ("serve", "gpu")
    assert not s.enable_model_warmup and s.warmup_iterations == 3
    assert s.enable_batching and s.batching is not None and s.batching.max_batch_size == 128
    assert s.monitoring == MonitoringSettings(True, "/monitoring/prometheus/metrics")
    assert s.path_map == (
        PathMapping("/models", str(tmp_path)),
        PathMapping("/other", str(Path("rel").resolve())),
    )
    assert s.models[0].base_path == f"{tmp_path}/m"
    assert s.drain_seconds == 2.5


def test_every_declared_flag_has_a_settings_field() -> None:
    fields = set(ServerSettings.__dataclass_fields__)
    renamed = {"tfkit_path_map": "path_map", "tfkit_drain_seconds": "drain_seconds"}
    assert {renamed.get(flag.name, flag.name) for flag in FLAGS} <= fields


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=True"], True),
        (["--enable_batching=1"], True),
        (["--enable_batching=false"], False),
        (["--enable_batching=0"], False),
        (["--enable_batching", "false"], False),
        (["--enable_batching", "true"], True),
        (["-enable_batching"], True),
    ],
)
def test_bool_forms(argv: list[str], expected: bool) -> None:
    assert parse_flags([BASE, *argv]).enable_batching is expected


def test_space_separated_values_and_last_one_wins() -> None:
    s = parse_flags(["--model_base_path", "/models/x", "--port", "1", "--port=2", "--enable_batching", BASE])
    assert s.port == 2 and s.enable_batching and s.model_base_path == "/models/m"
    assert s.batching == BatchingSettings()  # --enable_batching without a file: upstream defaults


def test_unknown_flag_lists_the_supported_ones() -> None:
    with pytest.raises(FlagError) as err:
        parse_flags([BASE, "--enable_profiler=false"])
    text = str(err.value)
    assert "Unknown or unsupported flag: --enable_profiler" in text
    assert all(f"--{flag.name}" in text for flag in FLAGS)


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["positional"], "unknown argument: positional"),
        (["--port=abc"], "Invalid value for --port: 'abc'"),
        (["--enable_batching=yes"], "Invalid value for --enable_batching: 'yes'"),
        (["--model_name"], "Missing value for --model_name"),
        (["--tfkit_path_map=models"], "Invalid value for --tfkit_path_map"),
        (["--tfkit_path_map=models=/x"], "Invalid value for --tfkit_path_map"),
        (["--tfkit_drain_seconds=-1"], "--tfkit_drain_seconds: must be >= 0"),
    ],
)
def test_usage_errors(argv: list[str], text: str) -> None:
    with pytest.raises(FlagError, match=text.replace("(", r"\(")):
        parse_flags([BASE, *argv])


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
        (
            [BASE, f"--batching_parameters_file={BATCHING}"],
            "server_options.batching_parameters_file is set without setting server_options.enable_batching "
            "to true.",
        ),
        (["--model_base_path=models/m"], "Expected model default to have an absolute path or URI; "),
        ([BASE, "--port=0"], "At least one of server_options.grpc_port or server_options.grpc_socket_path"),
    ],
)
def test_startup_errors_use_upstream_texts(argv: list[str], text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_flags(argv)
    assert text in err.value.message


def test_config_file_replaces_model_name_and_base_path() -> None:
    s = parse_flags(["--model_name=x", "--model_base_path=/x", f"--model_config_file={MODELS}"])
    assert [m.name for m in s.models] == ["linear", "ctr"]


def test_missing_config_file_stops_the_start() -> None:
    with pytest.raises(NotFound):
        parse_flags(["--model_config_file=/nonexistent/models.config"])


def test_version_needs_no_model_flags() -> None:
    assert parse_flags(["--version"]).version


def make_tfkit() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfkit")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def run_cli(argv: list[str]) -> int:
    args = make_tfkit().parse_args(argv)
    code: int = args.run(args)
    return code


def test_cli_serve_help_lists_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"--{flag.name}" in out for flag in FLAGS)


def test_cli_serve_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--model_base_path=/m", "--nope=1"]) == 2
    assert "Unknown or unsupported flag: --nope" in capsys.readouterr().err


def test_cli_serve_bad_config_prints_upstream_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["serve", BASE, f"--batching_parameters_file={BATCHING}"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "Failed to start server. Error: INVALID_ARGUMENT: server_options.batching_parameters_file"
    )


def test_cli_serve_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("TensorFlow ModelServer: ") and "TensorFlow Library: 2.19" in out


def test_cli_bench_arguments() -> None:
    args = make_tfkit().parse_args(["bench", "--artifacts", "a", "--out", "o"])
    assert (args.artifacts, args.out, args.run) == (Path("a"), Path("o"), cli.run_bench)


def test_local_path_maps_container_paths_once() -> None:
    s = parse_flags([BASE, "--tfkit_path_map=/models=/models/local"])
    assert s.models[0].base_path == "/models/local/m"
    assert s.local_path("/models/m") == "/models/local/m"
    assert s.local_path(s.models[0].base_path) == "/models/local/m"  # already mapped: unchanged


def test_real_tfkit_entry_point_passes_tf_serving_flags_through(capsys: pytest.CaptureFixture[str]) -> None:
    from export.tfkit import main

    assert main(["serve", "--model_base_path=/m", "--port", "1", "--bogus_flag"]) == 2
    assert "Unknown or unsupported flag: --bogus_flag" in capsys.readouterr().err
    assert main(["serve", "--help"]) == 0
    assert "--tfkit_path_map" in capsys.readouterr().out
