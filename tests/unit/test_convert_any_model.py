"""`tfkit convert` on a model the kit does not know: gates that scale with the output, honest int8, and
only the kit's own lines on the terminal (the converters' C++ logs go to convert.log)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from export.convert.parity import compare
from export.convert.rows import Rows
from export.native_log import native_stderr_to
from tests.support.convert_cli import run_convert
from tests.support.tiny_model import MODEL as TINY

NOISE = ("W0000", "tf_tfl_flatbuffer_helpers", "fully_quantize", "I0000")


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A foreign SavedModel (no kit artifacts tree): y = 12x + 30, outputs in the tens."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("foreign")
    (root / "train").mkdir()
    (root / "train" / "metrics.json").write_text('{"slope": 12.0}')
    module, signatures = TINY.serving_module(root / "train")
    tf.saved_model.save(module, str(root / "regress"), signatures=signatures)
    return root / "regress"


def _rows(n: int) -> Rows:
    return Rows(inputs={"x": np.zeros((n, 1), np.float32)}, labels=None, source="t")


def test_gates_scale_with_the_output_range() -> None:
    """The issue's case: int8 max|Δ| 0.0255 on outputs in the tens passes 0.02; on probabilities it fails."""
    ref = np.linspace(10.0, 40.0, 256, dtype=np.float32).reshape(-1, 1)
    got = ref + np.float32(0.0255)
    result = compare("tflite", "int8", _rows(256), {"y": ref}, {"y": got}, 0.02, None)
    assert result.scale == pytest.approx(30.0) and result.max_abs_error == pytest.approx(0.0255, rel=1e-3)
    assert result.error == pytest.approx(0.0255 / 30, rel=1e-3) and result.passed
    probs = np.linspace(0.05, 0.95, 256, dtype=np.float32).reshape(-1, 1)
    result = compare(
        "tflite", "int8", _rows(256), {"p": probs}, {"p": probs + np.float32(0.0255)}, 0.02, None
    )
    assert result.scale == 1.0 and not result.passed  # probabilities keep the absolute gate


def test_native_stderr_goes_to_the_log(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "tflite" / "m" / "convert.log"
    with native_stderr_to(log):
        os.write(2, b"W0000 00:00 tf_tfl_flatbuffer_helpers.cc:365] Ignored output_format.\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert "tf_tfl_flatbuffer_helpers" in log.read_text()


def test_foreign_model_converts_by_default_quietly_without_int8(
    regression: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run_convert(str(regression), "--output-dir", str(tmp_path)) == 0
    out, err = capfd.readouterr()
    assert "skipping tflite int8: no representative data" in err
    assert not [line for line in (out + err).splitlines() if any(n in line for n in NOISE)], err
    assert "int8.tflite" not in out and "dynamic.tflite" in out and "uint8" in out
    assert (tmp_path / "tflite" / "regress" / "convert.log").is_file()
    assert not (tmp_path / "tflite" / "regress" / "int8.tflite").exists()


def test_int8_asked_for_without_data_is_refused(
    regression: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_convert(str(regression), "--output-dir", str(tmp_path), "--tflite", "int8", "--tfjs", "none") == 2
    )
    assert "tflite int8 needs representative data" in capfd.readouterr().err
    assert not (tmp_path / "tflite").exists()


def test_int8_with_representative_data_is_gated_on_the_output_range(
    regression: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "rows.npz", x=np.random.default_rng(0).normal(0, 1, (300, 1)).astype(np.float32))
    argv = ["--output-dir", str(tmp_path / "out"), "--tflite", "int8", "--tfjs", "none"]
    assert run_convert(str(regression), *argv, "--representative-data", str(tmp_path / "rows.npz")) == 0
    out, err = capfd.readouterr()
    assert "int8" in out and " ok" in out
    assert not [line for line in (out + err).splitlines() if any(n in line for n in NOISE)], err
