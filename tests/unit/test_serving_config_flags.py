"""serving.flags + serving.cli: tensorflow_model_server's command line -> ServerSettings."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from serving import cli
from serving.flags import FLAGS, NO_EFFECT_FLAGS, UPSTREAM_FLAGS, FlagError, parse_flags
from serving.settings import MonitoringSettings, PathMapping, ServerSettings, SslSettings
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
    assert s.grpc_max_threads == 5
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


def test_every_flag_with_an_effect_has_a_settings_field() -> None:
    fields = set(ServerSettings.__dataclass_fields__)
    renamed = {"tfkit_path_map": "path_map", "tfkit_drain_seconds": "drain_seconds", "ssl_config_file": "ssl"}
    refused = {"platform_config_file"}
    kit = {renamed.get(f.name, f.name) for f in FLAGS if f.effect == "kit" and f.name not in refused}
    assert kit <= fields


def test_the_table_holds_the_48_upstream_flags() -> None:
    assert len(UPSTREAM_FLAGS) == 48 and len({f.name for f in UPSTREAM_FLAGS}) == 48
    assert all(f.name.startswith("tfkit_") for f in FLAGS if f not in UPSTREAM_FLAGS)


def test_no_effect_flags_are_recorded_for_the_start_log() -> None:
    s = parse_flags([BASE, "--enable_profiler=false", "--xla_cpu_compilation_enabled", "--port=1"])
    assert s.no_effect_flags == ("enable_profiler", "xla_cpu_compilation_enabled")
    assert set(NO_EFFECT_FLAGS) >= {"use_alts_credentials", "per_process_gpu_memory_fraction"}


def test_readme_lists_exactly_the_no_effect_flags() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("Accepted with no effect here") :].split("\n\n")[0]
    assert sorted(re.findall(r"`--(\w+)`", section)) == sorted(NO_EFFECT_FLAGS)


def test_path_map_and_drain_errors() -> None:
    for argv, text in [
        (["--tfkit_path_map=models"], "Invalid value for --tfkit_path_map"),
        (["--tfkit_path_map=models=/x"], "Invalid value for --tfkit_path_map"),
        (["--tfkit_drain_seconds=-1"], "--tfkit_drain_seconds: must be >= 0"),
    ]:
        with pytest.raises(FlagError, match=text):
            parse_flags([BASE, *argv])


def test_tls_and_thread_settings(tmp_path: Path) -> None:
    ssl = tmp_path / "ssl.config"
    ssl.write_text('server_key: "KEY" server_cert: "CERT" custom_ca: "CA" client_verify: true')
    s = parse_flags([BASE, f"--ssl_config_file={ssl}", "--num_load_threads=3", "--num_unload_threads=2"])
    assert s.ssl == SslSettings("KEY", "CERT", "CA", True)
    assert (s.num_load_threads, s.num_unload_threads) == (3, 2)
    ssl.write_text("server_key: 1 2")
    with pytest.raises(InvalidArgument, match="Invalid protobuf file"):
        parse_flags([BASE, f"--ssl_config_file={ssl}"])


def test_platform_config_file_is_refused() -> None:
    with pytest.raises(FlagError, match="--platform_config_file is not supported"):
        parse_flags([BASE, "--platform_config_file=/x"])


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
    assert all(f"--{flag.name}=" in out for flag in FLAGS)
    assert out.count("(no effect here)") == len(NO_EFFECT_FLAGS)


def test_cli_serve_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--model_base_path=/m", "--nope=1"]) == 2
    assert "Unknown flag --nope" in capsys.readouterr().err


def test_cli_serve_value_error_exits_255_like_the_binary(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--model_base_path=/m", "--port=abc"]) == 255
    assert "Couldn't interpret value abc for flag port." in capsys.readouterr().err


def test_cli_serve_bad_config_prints_upstream_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["serve", BASE, f"--batching_parameters_file={BATCHING}"])
    assert code == 255
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
    from tfkit.cli import main

    assert main(["serve", "--model_base_path=/m", "--bogus_flag"]) == 2
    assert "Unknown flag --bogus_flag" in capsys.readouterr().err
    assert main(["serve", "--model_base_path=/m", "--port", "1"]) == 2
    assert "takes its value only as --port=VALUE" in capsys.readouterr().err
    assert main(["serve", "--help"]) == 0
    assert "--tfkit_path_map" in capsys.readouterr().out
