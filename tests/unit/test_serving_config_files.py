"""serving.config: text-format ModelServerConfig / BatchingParameters / MonitoringConfig, upstream errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving import config
from serving.settings import DEFAULT_METRICS_PATH, BatchingSettings, MonitoringSettings, PathMapping
from serving.status import InvalidArgument, NotFound
from serving.types import ModelConfig, VersionPolicy

REPO = Path(__file__).resolve().parents[2]


def models(text: str, path_map: tuple[PathMapping, ...] = ()) -> list[ModelConfig]:
    return config.model_configs_from_proto(config.parse_model_server_config(text, "m.config"), path_map)


def test_kit_models_config_lists_linear_and_ctr_with_latest_policy() -> None:
    found = config.read_model_config_file(str(REPO / "serving/models.config"))
    assert [(m.name, m.base_path, m.platform) for m in found] == [
        ("linear", "/models/linear", "tensorflow"),
        ("ctr", "/models/ctr", "tensorflow"),
    ]
    assert all(m.version_policy == VersionPolicy("latest", 1) for m in found)


def test_path_map_moves_base_paths_onto_a_local_directory(tmp_path: Path) -> None:
    mapping = (PathMapping("/models", str(tmp_path)),)
    found = config.read_model_config_file(str(REPO / "serving/models.config"), mapping)
    assert [m.base_path for m in found] == [f"{tmp_path}/linear", f"{tmp_path}/ctr"]


def test_path_map_matches_whole_segments_and_longest_prefix() -> None:
    maps = (PathMapping("/models", "/a"), PathMapping("/models/ctr", "/b"))
    text = """model_config_list {
      config { name: "x" base_path: "/models2/x" model_platform: "tensorflow" }
      config { name: "y" base_path: "/models/y" model_platform: "tensorflow" }
      config { name: "z" base_path: "/models/ctr" model_platform: "tensorflow" }
      config { name: "g" base_path: "gs://bucket/models/g" model_platform: "tensorflow" }
    }"""
    assert [m.base_path for m in models(text, maps)] == ["/models2/x", "/a/y", "/b", "gs://bucket/models/g"]


def test_version_policies_and_labels() -> None:
    text = """model_config_list {
      config { name: "a" base_path: "/m/a" model_platform: "tensorflow"
               model_version_policy { all {} } }
      config { name: "b" base_path: "/m/b" model_platform: "tensorflow"
               model_version_policy { specific { versions: 42 versions: 43 } }
               version_labels { key: "stable" value: 42 }
               version_labels { key: "canary" value: 43 } }
      config { name: "c" base_path: "/m/c" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 3 } } }
      config { name: "d" base_path: "/m/d" model_platform: "tensorflow"
               model_version_policy { latest { } } }
      config { name: "e" base_path: "/m/e" model_type: TENSORFLOW }
    }"""
    a, b, c, d, e = models(text)
    assert a.version_policy.kind == "all"
    assert b.version_policy == VersionPolicy("specific", 1, (42, 43))
    assert b.version_labels == {"canary": 43, "stable": 42}
    assert c.version_policy == VersionPolicy("latest", 3)
    assert d.version_policy == VersionPolicy("latest", 1)  # upstream: max(num_versions, 1)
    assert e.platform == "tensorflow"


def test_empty_config_means_no_models() -> None:
    assert models("") == []
    assert models("model_config_list {}") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'model_config_list { config { name: "a" base_path: "/x" model_platform: "tensorflow" } '
            'config { name: "a" base_path: "/y" model_platform: "tensorflow" } }',
            "Illegal to list model a multiple times in config list",
        ),
        (
            'model_config_list { config { name: "a" base_path: "models/a" model_platform: "tensorflow" } }',
            "Expected model a to have an absolute path or URI; got base_path()=models/a",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/x" } }',
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            "ModelServerConfig::model_platform, model name is a",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/x" model_type: TENSORFLOW '
            'model_platform: "tensorflow" } }',
            "Illegal setting both ModelServerConfig::model_type (deprecated) and "
            "ModelServerConfig::model_platform, model name is a",
        ),
        (
            'custom_model_config { type_url: "x" }',
            "ModelServer does not yet support custom model config.",
        ),
    ],
)
def test_model_config_validation_uses_upstream_texts(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        models(text)
    assert err.value.message == message


def test_parse_error_names_file_type_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.config"
    path.write_text('model_config_list {\n  config {\n    nme: "a"\n  }\n}\n')
    with pytest.raises(InvalidArgument) as err:
        config.read_model_config_file(str(path))
    assert err.value.message.startswith(f"Invalid protobuf file: '{path}'")
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig: 3:5:" in err.value.message
    assert 'has no field named "nme"' in err.value.message


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as err:
        config.read_model_config_file(str(tmp_path / "nope.config"))
    assert "No such file or directory" in err.value.message


def test_single_model_flags_build_the_same_config() -> None:
    (only,) = config.single_model_config("default", "/models/default")
    assert (only.name, only.base_path, only.platform) == ("default", "/models/default", "tensorflow")
    with pytest.raises(InvalidArgument, match="Expected model default to have an absolute path or URI"):
        config.single_model_config("default", "relative/dir")


def test_kit_batching_config_is_cpu_tuned() -> None:
    batching = config.read_batching_parameters_file(str(REPO / "serving/batching.config"))
    assert batching.max_batch_size == 128
    assert 0 < batching.batch_timeout_micros <= 2000
    assert batching.num_batch_threads == 2
    assert batching.max_enqueued_batches >= batching.num_batch_threads


def test_batching_defaults_are_upstream_for_unset_fields() -> None:
    parsed = config.parse_batching_parameters("")
    assert (parsed.max_batch_size, parsed.batch_timeout_micros, parsed.max_enqueued_batches) == (1000, 0, 10)
    assert parsed.num_batch_threads == BatchingSettings().num_batch_threads >= 1
    assert parsed.thread_pool_name == "batch_threads"
    assert parsed.allowed_batch_sizes == ()


def test_batching_fields_parse_including_wrappers_and_lists() -> None:
    parsed = config.parse_batching_parameters(
        "max_batch_size { value: 8 } batch_timeout_micros { value: 500 } max_enqueued_batches { value: 3 }\n"
        'num_batch_threads { value: 1 } thread_pool_name { value: "pool" }\n'
        "allowed_batch_sizes: 2 allowed_batch_sizes: 8 enable_large_batch_splitting { value: true }\n"
        "max_execution_batch_size { value: 8 }"
    )
    assert parsed == BatchingSettings(8, 500, 3, 1, "pool", (2, 8), False, True, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2",
            "allowed_batch_sizes entries must be monotonically increasing",
        ),
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; expected 8",
        ),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be positive; was 0"),
        ("max_enqueued_batches { value: 0 }", "max_enqueued_batches must be positive; was 0"),
        ("max_batch_size: 8", "Error parsing text-format tensorflow.serving.BatchingParameters: 1:17:"),
    ],
)
def test_batching_validation(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        config.parse_batching_parameters(text, "b.config")
    assert message in err.value.message


def test_kit_monitoring_config_enables_the_upstream_path() -> None:
    parsed = config.read_monitoring_config_file(str(REPO / "serving/monitoring.config"))
    assert parsed == MonitoringSettings(enabled=True, path="/monitoring/prometheus/metrics")


def test_monitoring_empty_path_defaults_and_disabled_stays_off() -> None:
    assert config.parse_monitoring_config("prometheus_config { enable: true }").path == DEFAULT_METRICS_PATH
    assert config.parse_monitoring_config('prometheus_config { path: "/m" }') == MonitoringSettings(
        False, "/m"
    )
    assert config.parse_monitoring_config("") == MonitoringSettings()
    with pytest.raises(InvalidArgument, match=r"tensorflow\.serving\.MonitoringConfig"):
        config.parse_monitoring_config("prometheus_config { enabled: true }")
