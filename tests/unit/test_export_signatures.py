"""Exported SavedModels: fixed signatures (names, dtypes, shapes), warmup records, manifest, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from export.ctr_train import train_ctr
from export.exporter import export_model
from export.linear import train_linear
from export.manifest import load_manifest
from export.samples import sample_examples, sample_inputs
from export.settings import CtrSettings, ExportSettings, GenerateSettings, LinearSettings
from export.synthetic import generate
from export.warmup import read_warmup

pytestmark = pytest.mark.needs_export

SPECS: dict[str, dict[str, Any]] = {
    "linear": {
        "serving_default": ({"x": (tf.float32, [None, 1])}, {"y": (tf.float32, [None, 1])}),
        "regression": ({"inputs": (tf.string, [None])}, {"outputs": (tf.float32, [None])}),
    },
    "ctr": {
        "serving_default": (
            {
                "feature": (tf.float32, [None, 121]),
                "user_id": (tf.int64, [None]),
                "article_id": (tf.int64, [None]),
            },
            {"probability": (tf.float32, [None, 1])},
        ),
        "classification": (
            {"inputs": (tf.string, [None])},
            {"classes": (tf.string, [None, 2]), "scores": (tf.float32, [None, 2])},
        ),
        "predict_examples": ({"examples": (tf.string, [None])}, {"probability": (tf.float32, [None, 1])}),
    },
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export-artifacts")
    data = root / "data" / "ctr"
    generate(GenerateSettings(out_dir=data, n_train=3000, n_eval=1000, n_users=20, n_articles=30, shards=2))
    train_linear(LinearSettings(model_dir=root / "train" / "linear", max_steps=300, log_every=0))
    train_ctr(CtrSettings(data_dir=data, model_dir=root / "train" / "ctr", epochs=1), log=lambda _: None)
    for model in ("linear", "ctr"):
        export_model(ExportSettings(artifacts=root, model=model, model_dir=root / "train" / model), log=print)
    return root


def _signature_specs(fn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_input_signature[1].items()}
    outputs = {k: (v.dtype, v.shape.as_list()) for k, v in fn.structured_outputs.items()}
    return inputs, outputs


@pytest.mark.parametrize("model", ["linear", "ctr"])
def test_signatures_have_fixed_names_dtypes_and_shapes(artifacts: Path, model: str) -> None:
    loaded = tf.saved_model.load(str(artifacts / "models" / model / "1"))
    assert set(loaded.signatures.keys()) == set(SPECS[model])
    for name, expected in SPECS[model].items():
        assert _signature_specs(loaded.signatures[name]) == expected, name


def test_linear_signatures_agree(artifacts: Path) -> None:
    from export.models.linear import examples as linear_examples

    loaded = tf.saved_model.load(str(artifacts / "models" / "linear" / "1"))
    x = sample_inputs("linear", artifacts, 5)["x"]
    y = loaded.signatures["serving_default"](x=tf.constant(x))["y"].numpy()
    np.testing.assert_allclose(y, 0.8 * x + 0.7, atol=0.1)  # 300 steps: near the truth
    out = loaded.signatures["regression"](inputs=tf.constant(linear_examples(x)))["outputs"].numpy()
    np.testing.assert_allclose(out, y[:, 0], rtol=1e-6)


def test_ctr_signatures_agree_on_the_same_rows(artifacts: Path) -> None:
    loaded = tf.saved_model.load(str(artifacts / "models" / "ctr" / "1"))
    inputs = sample_inputs("ctr", artifacts, 16, seed=3)
    examples = sample_examples(artifacts, 16, seed=3)
    assert inputs["feature"].dtype == np.float32 and inputs["user_id"].dtype == np.int64
    p = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["probability"]
    classified = loaded.signatures["classification"](inputs=tf.constant(examples))
    by_examples = loaded.signatures["predict_examples"](examples=tf.constant(examples))["probability"]
    np.testing.assert_allclose(by_examples.numpy(), p.numpy(), rtol=1e-5)
    np.testing.assert_allclose(classified["scores"].numpy()[:, 1], p.numpy()[:, 0], rtol=1e-5)
    np.testing.assert_allclose(classified["scores"].numpy().sum(axis=1), 1.0, rtol=1e-6)
    assert classified["classes"].numpy().tolist() == [[b"0", b"1"]] * 16
    assert np.all((p.numpy() > 0) & (p.numpy() < 1))


def _replay(loaded: Any, log: Any) -> dict[str, Any]:
    kind = log.WhichOneof("log_type")
    request = getattr(log, kind).request
    if kind == "predict_log":
        feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    else:
        serialized = [e.SerializeToString() for e in request.input.example_list.examples]
        feeds = {"inputs": tf.constant(serialized)}
    return dict(loaded.signatures[request.model_spec.signature_name](**feeds))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # model.tflite in each version: only the records its TFLite session replays too
        # (export/version_tflite.py replayable_warmup)
        ("linear", [("predict_log", "serving_default")]),
        ("ctr", [("predict_log", "serving_default")]),
    ],
)
def test_warmup_records_parse_and_replay(
    artifacts: Path, model: str, expected: list[tuple[str, str]]
) -> None:
    version_dir = artifacts / "models" / model / "1"
    logs = read_warmup(version_dir)
    found = [
        (
            log.WhichOneof("log_type"),
            getattr(log, log.WhichOneof("log_type")).request.model_spec.signature_name,
        )
        for log in logs
    ]
    assert found == expected
    loaded = tf.saved_model.load(str(version_dir))
    for log in logs:
        outputs = _replay(loaded, log)
        assert all(int(t.shape[0]) == 8 for t in outputs.values())


def test_manifest_records_metrics_and_digest(artifacts: Path) -> None:
    models = load_manifest(artifacts)["models"]
    assert set(models["linear"]["metrics"]) == {"w", "b", "loss"}
    assert set(models["ctr"]["metrics"]) == {"auc", "logloss", "bayes_auc"}
    for name in ("linear", "ctr"):
        saved = [a for a in models[name]["artifacts"] if a["kind"] == "saved_model"]
        assert len(saved) == 1
        version_dir = artifacts / saved[0]["path"]
        files = [p for p in version_dir.rglob("*") if p.is_file()]
        assert saved[0]["bytes"] == sum(p.stat().st_size for p in files)
        assert len(saved[0]["files"]) == len(files)
        assert models[name]["kit_model"] == name


def test_next_export_publishes_version_two_and_refuses_duplicates(artifacts: Path) -> None:
    settings = ExportSettings(artifacts=artifacts, model="linear", model_dir=artifacts / "train" / "linear")
    entry = export_model(settings, log=print)
    assert entry["path"] == "models/linear/2"
    assert load_manifest(artifacts)["models"]["linear"]["version"] == 2
    with pytest.raises(FileExistsError):
        export_model(
            ExportSettings(artifacts=artifacts, model="linear", model_dir=settings.model_dir, version=2)
        )
    assert sorted(p.name for p in (artifacts / "models" / "linear").iterdir()) == ["1", "2"]
