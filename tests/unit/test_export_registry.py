"""The model registry: discovery of model modules, one set of schema constants, a third model end to end.

`test_a_third_model_runs_the_whole_pipeline` registers tests/support/tiny_model.py (only in the test)
and runs `make export`'s pipeline over it: train, export with warmup, convert to TFLite (float32,
dynamic, int8) and TF.js with parity, manifest. Nothing else had to change for it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import export.models
from export import schema
from export.manifest import load_manifest, sha256sum_lines
from export.models import UnknownModelError, discover, get, names
from tests.support import tiny_model
from tests.support.convert_cli import run_convert

TINY_SOURCE = Path(tiny_model.__file__)


def test_the_kit_registers_linear_and_ctr() -> None:
    assert names() == ("ctr", "linear")
    assert get("ctr").name == "ctr" and get("linear").tflite_variants == ("float32", "dynamic")
    with pytest.raises(UnknownModelError, match="unknown model 'nope': expected one of ctr, linear"):
        get("nope")


def test_a_model_module_is_all_a_registration_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "more_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(TINY_SOURCE.read_text())
    (package / "_private.py").write_text("MODEL = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("more_models")
    assert list(found) == ["tiny"] and found["tiny"].tfjs_variants == ("float32",)


def test_one_set_of_schema_constants() -> None:
    layout = schema.feature_layout()
    assert [name for name, _, _ in layout] == [
        "channel_id",
        "article_vector",
        "user_weights",
        "article_keyword_weights",
    ]
    assert layout[-1][2] == schema.FEATURE_LEN == 121 and layout[1] == ("article_vector", 1, 101)
    assert schema.MAX_ID == 2**31  # exclusive: ids are 0 <= id < 2**31
    ctr = get("ctr")
    assert (ctr.id_inputs, ctr.max_id) == (schema.ID_INPUTS, schema.MAX_ID)
    prep = ctr.preprocessing({"feature": (None, 121), "user_id": (None,), "article_id": (None,)}, "tfjs")
    assert prep is not None and prep["ids"]["max"] == schema.MAX_ID - 1  # the sidecar's inclusive max
    assert [o["slice"] for o in prep["feature"]["order"]] == [[0, 1], [1, 101], [101, 111], [111, 121]]
    with pytest.raises(ValueError, match="feature_len must be > 21"):
        schema.feature_layout(21)


@pytest.mark.needs_export
def test_a_third_model_runs_the_whole_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from export.pipeline import PipelineSettings, run_pipeline

    monkeypatch.setattr(export.models, "models", lambda: {"tiny": tiny_model.MODEL})
    lines: list[str] = []
    assert run_pipeline(PipelineSettings(artifacts=tmp_path), lines.append) == 0, "\n".join(lines)
    noise = [
        line for line in capfd.readouterr().err.splitlines() if "W0000" in line or "fully_quantize" in line
    ]
    assert not noise, noise  # the converters' C++ lines went to convert.log
    assert "fully_quantize" in (tmp_path / "tflite" / "tiny" / "convert.log").read_text()
    stages = [line.split(":")[0] for line in lines if line.startswith("[")]
    assert stages == [
        "[1/4] load tensorflow",
        "[2/4] train tiny",
        "[3/4] export tiny",
        "[4/4] convert + parity",
    ]
    entry = load_manifest(tmp_path)["models"]["tiny"]
    assert entry["kit_model"] == "tiny" and entry["metrics"] == {"slope": 12.0}
    kinds = {(a["kind"], a["variant"]): a for a in entry["artifacts"]}
    assert set(kinds) == {
        ("saved_model", "float32"),
        ("version_tflite", "float32"),  # models/tiny/1/model.tflite (--prefer_tflite_model)
        ("tflite", "float32"),
        ("tflite", "dynamic"),
        ("tflite", "int8"),
        ("tfjs", "float32"),
        ("sidecar", "tflite/float32"),
        ("sidecar", "tflite/dynamic"),
        ("sidecar", "tflite/int8"),
        ("sidecar", "tfjs/float32"),
    }
    int8 = kinds[("tflite", "int8")]
    assert int8["parity_scale"] > 10  # outputs span tens: the gate scales with the range
    assert int8["parity_error"] == pytest.approx(int8["parity_max_abs_error"] / int8["parity_scale"])
    assert int8["parity_error"] <= int8["parity_gate"] == 0.02
    sidecar = json.loads((tmp_path / "tflite" / "tiny" / "int8.signature.json").read_text())
    assert sidecar["parity"]["passed"] and "preprocessing" not in sidecar
    # `tfkit convert` on the exported version knows the model from the manifest's kit_model record, so
    # int8 calibrates on the model's own rows instead of being refused for lack of data.
    version = tmp_path / "models" / "tiny" / "1"
    argv = ["--output-dir", str(tmp_path / "again"), "--tflite", "int8", "--tfjs", "none"]
    assert run_convert(str(version), *argv) == 0
    assert (tmp_path / "again" / "tflite" / "tiny" / "int8.tflite").is_file()
    listing = "".join(sha256sum_lines(a) for a in entry["artifacts"])
    done = subprocess.run(
        ["sha256sum", "-c", "-"], input=listing, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
