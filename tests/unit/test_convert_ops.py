"""Unsupported ops are refused with the op and target named; small pure helpers of `tfkit convert`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export.convert.ops import tfjs_unsupported, tflite_unsupported
from export.convert.parity import roc_auc
from export.convert.rows import Rows, edge_ids, with_edge_ids
from export.convert.settings import SettingsError, default_name, parse_gate, parse_variants
from export.models import get
from tests.support.convert_cli import run_convert


def build_string_model(path: Path) -> None:
    import tensorflow as tf

    class Shout(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([None, 1], tf.float32, name="x"),
            ]
        )
        def serve(self, text: tf.Tensor, x: tf.Tensor) -> dict[str, tf.Tensor]:
            loud = tf.strings.upper(text)
            return {"y": x * tf.cast(tf.expand_dims(tf.strings.length(loud), 1), tf.float32)}

    module = Shout()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


@pytest.fixture(scope="module")
def string_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strings") / "shout" / "1"
    build_string_model(path)
    return path


def test_string_ops_are_refused_naming_op_and_target(
    string_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_convert(
        str(string_model), "--output-dir", str(tmp_path), "--tflite", "float32", "--tfjs", "float32"
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "TFLite builtins do not support" in err and "StringUpper" in err
    assert "TF.js does not support" in err
    assert "StringLength" in err  # the Flex-capable op is named as such
    assert "--allow-select-tf-ops" in err
    assert not (tmp_path / "tflite" / "shout" / "float32.tflite").exists()


def test_select_tf_ops_flag_does_not_rescue_custom_ops(
    string_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_convert(
        str(string_model),
        "--output-dir",
        str(tmp_path),
        "--tfjs",
        "none",
        "--tflite",
        "float32",
        "--allow-select-tf-ops",
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Flex runtime" in err  # the flag says what it costs
    assert "TFLite does not support StringUpper even with SELECT_TF_OPS" in err


def test_select_tf_ops_flag_converts_flex_ops_and_records_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tensorflow as tf

    class Length(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([None, 1], tf.float32, name="x"),
            ]
        )
        def serve(self, text: tf.Tensor, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": x * tf.cast(tf.expand_dims(tf.strings.length(text), 1), tf.float32)}

    module = Length()
    tf.saved_model.save(module, str(tmp_path / "m"), signatures={"serving_default": module.serve})
    np.savez(tmp_path / "rows.npz", text=np.array([b"ab", b"abcd"] * 130), x=np.ones((260, 1), np.float32))
    base = [
        str(tmp_path / "m"),
        "--output-dir",
        str(tmp_path / "out"),
        "--tfjs",
        "none",
        "--tflite",
        "float32",
        "--representative-data",
        str(tmp_path / "rows.npz"),
    ]
    assert run_convert(*base) == 2
    assert "StringLength would run with --allow-select-tf-ops" in capsys.readouterr().err
    assert run_convert(*base, "--allow-select-tf-ops") == 0
    assert "Flex runtime" in capsys.readouterr().err
    sidecar = json.loads((tmp_path / "out" / "tflite" / "m" / "float32.signature.json").read_text())
    assert sidecar["requires_flex_runtime"] == ["StringLength"]
    assert sidecar["parity"]["max_abs_error"] == 0.0


def test_bad_inputs_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_convert(str(tmp_path / "missing"), "--output-dir", str(tmp_path)) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_convert(str(tmp_path), "--output-dir", str(tmp_path), "--tflite", "int4") == 2
    assert "unknown tflite variant(s) int4" in capsys.readouterr().err
    assert run_convert(str(tmp_path), "--output-dir", str(tmp_path)) == 2
    assert "not a SavedModel directory" in capsys.readouterr().err


def test_converter_messages_are_parsed() -> None:
    tflite = tflite_unsupported(
        "error: 'tf.StringLength' op is neither a custom op nor a flex op\n"
        "TF Select ops: StringLength\nCustom ops: StringUpper\nDetails: ..."
    )
    assert tflite is not None and tflite.ops == ("StringLength", "StringUpper")
    assert tflite.flex_ops == ("StringLength",)
    assert str(tflite).startswith("TFLite builtins do not support StringLength, StringUpper")
    tfjs = tfjs_unsupported("Unsupported Ops in the model before optimization\nParseExampleV2, DecodeRaw")
    assert tfjs is not None and tfjs.ops == ("ParseExampleV2", "DecodeRaw")
    assert tflite_unsupported("some unrelated failure") is None
    assert tfjs_unsupported("some unrelated failure") is None


def test_roc_auc_matches_hand_counts_with_ties() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.2])
    # pairs (pos, neg): 9; wins: 0.35>{0.1,0.2}=2, 0.8>all=3, 0.4>{0.1,0.2}+tie 0.4=2.5 -> 7.5/9
    assert roc_auc(labels, scores) == pytest.approx(7.5 / 9)
    with pytest.raises(ValueError):
        roc_auc(np.ones(3), np.arange(3.0))


def test_edge_rows_cover_the_top_of_the_id_range() -> None:
    rows = Rows(
        inputs={"feature": np.zeros((3, 2), np.float32), "user_id": np.arange(3), "article_id": np.arange(3)},
        labels=np.array([0, 1, 0]),
        source="t",
    )
    ctr = get("ctr")
    assert ctr.max_id == 2**31  # exclusive, from the data schema
    edged = with_edge_ids(rows, ctr)
    assert edged.count == 3 + len(edge_ids(2**31))
    assert edged.inputs["user_id"].max() == 2**31 - 1 and edged.inputs["article_id"].max() == 2**31 - 1
    assert edged.labels is not None and len(edged.labels) == 3


def test_settings_helpers() -> None:
    assert parse_variants("float32, int8", ("float32", "dynamic", "int8"), "tflite") == ("float32", "int8")
    assert parse_variants("none", ("float32",), "tfjs") == ()
    assert parse_gate("tfjs:uint8=0.01") == (("tfjs", "uint8"), 0.01)
    with pytest.raises(SettingsError, match="TARGET:VARIANT"):
        parse_gate("tfjs:int8=1")
    assert default_name(Path("/x/models/ctr/7")) == "ctr"
    assert default_name(Path("/x/my_model")) == "my_model"
