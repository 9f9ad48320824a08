"""examples/tflite_predict.py does what a mobile app does (LiteRT, signature runner, named inputs from the
sidecar); run as a subprocess against EVERY .tflite variant, it must match the SavedModel within the gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.reference import manifest, parity_gate, saved_model_predict
from tests.support.server import REPO

EXAMPLE = REPO / "examples" / "tflite_predict.py"
MODELS = {"linear": "y", "ctr": "probability"}  # model -> its serving_default output


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sidecar(artifacts: Path, model: str, variant: str) -> dict[str, Any]:
    return dict(json.loads((artifacts / "tflite" / model / f"{variant}.signature.json").read_text()))


def shipped_variants(artifacts: Path, model: str) -> list[str]:
    """The TFLite variants `make export` recorded for `model` (models may ship different sets)."""
    entries = manifest(artifacts)["models"][model]["artifacts"]
    return [e["variant"] for e in entries if e["kind"] == "tflite"]


def gate(artifacts: Path, model: str, variant: str) -> float:
    """The gate the conversion proved (sidecar), else the manifest's, else the documented default."""
    recorded = sidecar(artifacts, model, variant).get("parity", {}).get("gate")
    return float(recorded) if recorded else parity_gate(artifacts, "tflite", model, variant)


def real_rows(artifacts: Path, model: str) -> dict[str, np.ndarray]:
    from export.samples import sample_inputs

    return sample_inputs(model, artifacts, n=64, seed=0)


def test_every_tflite_file_is_in_the_manifest_with_a_sidecar(artifacts: Path) -> None:
    found = sorted(
        p.relative_to(artifacts / "tflite").as_posix() for p in (artifacts / "tflite").glob("*/*.tflite")
    )
    recorded = sorted(f"{m}/{v}.tflite" for m in MODELS for v in shipped_variants(artifacts, m))
    assert found == recorded
    for model in MODELS:
        assert "float32" in shipped_variants(artifacts, model)
        for variant in shipped_variants(artifacts, model):
            info = sidecar(artifacts, model, variant)
            assert info["signature"] == "serving_default"
            assert [o["name"] for o in info["outputs"]] == [MODELS[model]]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_example_matches_the_saved_model_on_every_variant(
    artifacts: Path, tmp_path: Path, model: str
) -> None:
    rows = real_rows(artifacts, model)
    inputs_file = tmp_path / "inputs.json"
    inputs_file.write_text(json.dumps({k: v.tolist() for k, v in rows.items()}))
    expected = saved_model_predict(artifacts, model, rows)[MODELS[model]].astype(np.float64)
    failures = []
    for variant in shipped_variants(artifacts, model):
        model_file = artifacts / "tflite" / model / f"{variant}.tflite"
        done = run_example("--model-file", str(model_file), "--inputs", f"@{inputs_file}")
        if done.returncode != 0:
            failures.append(f"{variant}: exit {done.returncode}: {done.stderr}")
            continue
        result = json.loads(done.stdout)
        assert result["signature"] == "serving_default"
        assert sorted(result["inputs"]) == sorted(
            i["name"] for i in sidecar(artifacts, model, variant)["inputs"]
        )
        got = np.asarray(result["outputs"][MODELS[model]], dtype=np.float64)
        assert got.shape == expected.shape, variant
        error = float(np.max(np.abs(got - expected)))
        if error > gate(artifacts, model, variant):
            failures.append(f"{variant}: max |Δ| {error} > gate {gate(artifacts, model, variant)}")
    assert failures == []


def test_example_without_inputs_feeds_zeros_built_from_the_sidecar(artifacts: Path) -> None:
    done = run_example("--model-file", str(artifacts / "tflite" / "ctr" / "float32.tflite"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["inputs"]["user_id"] == {"dtype": "int64", "shape": [-1]}
    assert result["inputs"]["feature"] == {"dtype": "float32", "shape": [-1, 121]}
    assert np.asarray(result["outputs"]["probability"]).shape == (1, 1)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ('{"x": [[1.0]], "z": [[2.0]]}', "unknown ['z']"),
        ('{"feature": [[1.0]]}', "missing ['article_id', 'user_id']"),
        ("not json", "--inputs is not JSON"),
    ],
)
def test_example_reports_bad_inputs(artifacts: Path, inputs: str, message: str) -> None:
    model = "linear" if '"x"' in inputs else "ctr"
    done = run_example(
        "--model-file", str(artifacts / "tflite" / model / "float32.tflite"), "--inputs", inputs
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_example_reports_a_wrong_shape(artifacts: Path) -> None:
    model_file = artifacts / "tflite" / "ctr" / "float32.tflite"
    inputs = json.dumps({"feature": [[0.0] * 120], "user_id": [1], "article_id": [2]})
    done = run_example("--model-file", str(model_file), "--inputs", inputs)
    assert done.returncode == 2
    assert "input 'feature': shape [1, 120] does not match [-1, 121]" in done.stderr


def is_subset(part: Any, whole: Any) -> bool:
    """Every key of `part` is in `whole` with a matching value (lists: same length, item by item)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and is_subset(v, whole[k]) for k, v in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and len(part) == len(whole) and all(map(is_subset, part, whole))
    return bool(part == whole)


def test_docs_mobile_sidecar_excerpt_matches_the_real_sidecar(artifacts: Path) -> None:
    text = (REPO / "docs" / "mobile.md").read_text()
    excerpt = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
    real = sidecar(artifacts, "ctr", "float32")
    assert is_subset(excerpt, real), json.dumps(real, indent=1)[:3000]
