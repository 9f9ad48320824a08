"""serving.options.load_options: the flags -> the SessionBundleConfig each version loads with.

Upstream: model_servers/server.cc `Server::BuildAndStart` (session_bundle_config: session config file,
then the *_parallelism thread counts; enable_signature_method_name_check, prefer_tflite_model,
remove_unused_fields_from_bundle_metagraph).
"""

from __future__ import annotations

from pathlib import Path

from tensorflow.core.protobuf import config_pb2

from serving.flags import parse_flags
from serving.options import load_options
from serving.servable import LoadOptions

BASE = "--model_base_path=/models/m"


def _session(options: LoadOptions) -> config_pb2.ConfigProto:
    return config_pb2.ConfigProto.FromString(options.session_config)


def test_defaults_load_with_tensorflows_session_and_upstream_defaults() -> None:
    assert load_options(parse_flags([BASE])) == LoadOptions()


def test_servable_flags_reach_the_load_options() -> None:
    options = load_options(
        parse_flags(
            [
                BASE,
                "--enable_signature_method_name_check=true",
                "--prefer_tflite_model=true",
                "--remove_unused_fields_from_bundle_metagraph=false",
            ]
        )
    )
    assert options.enable_signature_method_name_check
    assert options.prefer_tflite_model
    assert not options.remove_unused_fields_from_bundle_metagraph


def test_intra_and_inter_flags_set_the_session_threads() -> None:
    session = _session(
        load_options(
            parse_flags([BASE, "--tensorflow_intra_op_parallelism=3", "--tensorflow_inter_op_parallelism=2"])
        )
    )
    assert (session.intra_op_parallelism_threads, session.inter_op_parallelism_threads) == (3, 2)


def test_session_parallelism_sets_both() -> None:
    session = _session(load_options(parse_flags([BASE, "--tensorflow_session_parallelism=4"])))
    assert (session.intra_op_parallelism_threads, session.inter_op_parallelism_threads) == (4, 4)


def test_config_file_threads_are_replaced_by_the_flags(tmp_path: Path) -> None:
    # server.cc parses the file, then always sets both thread counts from the flags (0 when none is given).
    path = tmp_path / "session.config"
    path.write_text("intra_op_parallelism_threads: 7\nallow_soft_placement: true\n")
    session = _session(load_options(parse_flags([BASE, f"--tensorflow_session_config_file={path}"])))
    assert session.allow_soft_placement
    assert (session.intra_op_parallelism_threads, session.inter_op_parallelism_threads) == (0, 0)
