"""Each exported version carries its served TFLite model (export/version_tflite.py): written before the
version is published, ledgered with its parity; the version's warmup holds what its TFLite session replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import export.models
import export.version_tflite
from export.exporter import VERSION_TFLITE, export_model
from export.manifest import load_manifest
from export.settings import ExportSettings
from export.version_tflite import VersionTflite, replayable_warmup
from export.warmup import classify_log, predict_log, read_warmup, regress_log
from serving.tflite_session import TFLITE_MODEL, metadata_signature_defs
from tests.support import tiny_model


def _lite(*signatures: str) -> VersionTflite:
    return VersionTflite(Path("model.tflite"), "float32", signatures, 0.0, 0.0, 1.0, 1e-5)


def test_warmup_keeps_the_predict_records_of_the_tflite_signatures() -> None:
    """TF Serving warms a TFLite-loaded version with the same file (saved_model_bundle_source_adapter.cc);
    a Classify/Regress record or another signature would fail that load."""
    x = {"x": np.ones((2, 1), np.float32)}
    logs = [
        predict_log("m", "serving_default", x),
        classify_log("m", "classification", [b""]),
        regress_log("m", "regression", [b""]),
        predict_log("m", "predict_examples", {"examples": np.array([b""], dtype=object)}),
    ]
    kept = replayable_warmup(logs, _lite("serving_default"))
    assert [log.predict_log.request.model_spec.signature_name for log in kept] == ["serving_default"]
    assert replayable_warmup(logs, None) == logs  # no model.tflite: every record stays


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExportSettings:
    monkeypatch.setattr(export.models, "models", lambda: {"tiny": tiny_model.MODEL})
    model_dir = tiny_model.MODEL.train_dir(tmp_path)
    tiny_model.MODEL._train(model_dir)
    return ExportSettings(artifacts=tmp_path, model="tiny", model_dir=model_dir)


def test_the_version_lands_with_its_tflite_model_and_ledger_entry(tiny: ExportSettings) -> None:
    export_model(tiny, log=lambda _line: None)
    version = tiny.artifacts / "models" / "tiny" / "1"
    signatures = metadata_signature_defs((version / TFLITE_MODEL).read_bytes())
    assert list(signatures) == ["serving_default"] and list(signatures["serving_default"].inputs) == ["x"]
    entries = {a["kind"]: a for a in load_manifest(tiny.artifacts)["models"]["tiny"]["artifacts"]}
    assert [f["path"] for f in entries[VERSION_TFLITE]["files"]] == ["models/tiny/1/model.tflite"]
    assert entries[VERSION_TFLITE]["parity_error"] <= entries[VERSION_TFLITE]["parity_gate"]
    assert "models/tiny/1/model.tflite" in [f["path"] for f in entries["saved_model"]["files"]]
    assert len(read_warmup(version)) == 1


def test_a_failed_tflite_step_publishes_no_version(
    tiny: ExportSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise RuntimeError("parity gate failed")

    monkeypatch.setattr(export.version_tflite, "write_version_tflite", fail)
    with pytest.raises(RuntimeError, match="parity gate failed"):
        export_model(tiny, log=lambda _line: None)
    base = tiny.artifacts / "models" / "tiny"
    assert list(base.iterdir()) == []  # neither version 1 nor its temporary directory
    assert "tiny" not in load_manifest(tiny.artifacts)["models"]
