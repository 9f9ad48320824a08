"""`tfkit convert` end to end on a small ctr-like tf.Module: every variant, real LiteRT, TF.js in Node."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from export.convert.converter import ArtifactResult, convert_model
from export.convert.parity import ParityFailed
from export.convert.settings import DEFAULT_GATES, TFJS_VARIANTS, TFLITE_VARIANTS, ConvertSettings

ROWS = 300
BUCKETS = 1009


def build_ctr_like(path: Path) -> None:
    """feature float32 [None,121] + int64 ids -> floormod -> embedding gather -> dense -> sigmoid."""
    import tensorflow as tf

    rng = np.random.default_rng(7)

    class CtrLike(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.users = tf.Variable(rng.normal(0, 0.3, (BUCKETS, 4)).astype("float32"))
            self.articles = tf.Variable(rng.normal(0, 0.3, (BUCKETS, 4)).astype("float32"))
            self.dense = tf.Variable(rng.normal(0, 0.05, (129, 7)).astype("float32"))
            self.out = tf.Variable(rng.normal(0, 1.0, (7, 1)).astype("float32"))
            self.mean = tf.Variable(np.full(121, 0.5, "float32"))
            self.scale = tf.Variable(rng.uniform(1.0, 3.0, 121).astype("float32"))

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 121], tf.float32, name="feature"),
                tf.TensorSpec([None], tf.int64, name="user_id"),
                tf.TensorSpec([None], tf.int64, name="article_id"),
            ]
        )
        def serve(
            self, feature: tf.Tensor, user_id: tf.Tensor, article_id: tf.Tensor
        ) -> dict[str, tf.Tensor]:
            u = tf.gather(self.users, tf.math.floormod(user_id, BUCKETS))
            a = tf.gather(self.articles, tf.math.floormod(article_id, BUCKETS))
            x = (feature - self.mean) * self.scale  # normalisation: the int8 input layer stays float
            hidden = tf.nn.relu(tf.matmul(tf.concat([x, u, a], axis=1), self.dense))
            return {"probability": tf.sigmoid(tf.matmul(hidden, self.out))}

    module = CtrLike()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def write_rows(saved_model: Path, npz: Path) -> None:
    """Representative rows with labels drawn from the model itself (so the AUC gate is meaningful)."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    inputs = {
        "feature": rng.uniform(0, 1, (ROWS, 121)).astype("float32"),
        "user_id": rng.integers(0, 2**31, ROWS).astype("int64"),
        "article_id": rng.integers(0, 2**31, ROWS).astype("int64"),
    }
    fn = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    prob = fn(**{k: tf.constant(v) for k, v in inputs.items()})["probability"].numpy().ravel()
    labels = (rng.uniform(size=ROWS) < prob).astype("int64")
    np.savez(npz, label=labels, **inputs)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConvertSettings, list[ArtifactResult]]:
    root = tmp_path_factory.mktemp("convert")
    saved = root / "models" / "clicks" / "3"
    build_ctr_like(saved)
    write_rows(saved, root / "rows.npz")
    settings = ConvertSettings(
        saved_model_dir=saved,
        output_dir=root / "out",
        name="clicks",
        representative_data=root / "rows.npz",
        kit_model="ctr",  # told, never sniffed: the registry's ctr describes the sidecar's preprocessing
    )
    return settings, convert_model(settings, lambda _msg: None)


def test_every_variant_lands_in_the_layout_and_passes_its_gate(
    converted: tuple[ConvertSettings, list[ArtifactResult]],
) -> None:
    settings, results = converted
    out = settings.output_dir
    assert [(r.target, r.variant) for r in results] == [("tflite", v) for v in TFLITE_VARIANTS] + [
        ("tfjs", v) for v in TFJS_VARIANTS
    ]
    for variant in TFLITE_VARIANTS:
        assert (out / "tflite" / "clicks" / f"{variant}.tflite").stat().st_size > 0
        assert (out / "tflite" / "clicks" / f"{variant}.signature.json").is_file()
    for variant in TFJS_VARIANTS:
        assert (out / "tfjs" / "clicks" / variant / "model.json").is_file()
        assert (out / "tfjs" / "clicks" / variant / "signature.json").is_file()
    for r in results:
        assert r.parity is not None and r.parity.max_abs_error is not None
        assert r.parity.rows >= 256
        assert r.parity.max_abs_error <= DEFAULT_GATES[(r.target, r.variant)], r.parity  # probabilities:
        assert r.parity.scale == 1.0 and r.parity.error == r.parity.max_abs_error  # absolute gates
        assert r.parity.passed
    int8 = next(r for r in results if r.variant == "int8")
    assert int8.parity is not None and int8.parity.auc_delta is not None  # labels from the .npz were used
    float32 = next(r for r in results if (r.target, r.variant) == ("tflite", "float32"))
    assert int8.bytes < float32.bytes


def test_structured_output_names_survive_in_tfjs(
    converted: tuple[ConvertSettings, list[ArtifactResult]],
) -> None:
    settings, _ = converted
    model = json.loads((settings.output_dir / "tfjs" / "clicks" / "float32" / "model.json").read_text())
    assert model["userDefinedMetadata"]["structuredOutputKeys"] == ["probability"]
    assert "probability" in model["signature"]["outputs"]


def test_sidecars_describe_inputs_outputs_and_parity(
    converted: tuple[ConvertSettings, list[ArtifactResult]],
) -> None:
    settings, _ = converted
    lite = json.loads((settings.output_dir / "tflite" / "clicks" / "int8.signature.json").read_text())
    assert lite["signature"] == "serving_default"
    assert {i["name"]: (i["dtype"], i["shape"]) for i in lite["inputs"]} == {
        "feature": ("float32", [-1, 121]),
        "user_id": ("int64", [-1]),
        "article_id": ("int64", [-1]),
    }
    assert lite["outputs"] == [{"name": "probability", "dtype": "float32", "shape": [-1, 1]}]
    assert lite["parity"]["passed"] and lite["parity"]["gate"] == 0.02
    assert lite["float_ops"]["nodes"] == ["sub", "mul"]  # int8 input layer left float, the rest int8
    assert lite["preprocessing"]["ids"]["max"] == 2**31 - 1
    assert [s["name"] for s in lite["preprocessing"]["feature"]["order"]] == [
        "channel_id",
        "article_vector",
        "user_weights",
        "article_keyword_weights",
    ]
    web = json.loads((settings.output_dir / "tfjs" / "clicks" / "uint8" / "signature.json").read_text())
    ids = {i["name"]: i for i in web["inputs"]}
    assert ids["user_id"]["feed_dtype"] == "int32" and ids["user_id"]["feed_node"] == "user_id"
    assert web["preprocessing"]["ids"]["dtype"].startswith("int32")
    assert web["bytes"] == sum(
        (settings.output_dir / "tfjs" / "clicks" / "uint8" / f["path"]).stat().st_size for f in web["files"]
    )
    assert web["files"][0]["path"] == "model.json"


def test_a_missed_gate_fails_with_a_table(converted: tuple[ConvertSettings, list[ArtifactResult]]) -> None:
    settings, _ = converted
    gates = {**DEFAULT_GATES, ("tflite", "float16"): 1e-12, ("tfjs", "uint8"): 1e-12}
    tight = replace(
        settings,
        output_dir=settings.output_dir.parent / "tight",
        tflite_variants=("float32", "float16"),
        tfjs_variants=("uint8",),
        gates=gates,
    )
    with pytest.raises(ParityFailed) as caught:
        convert_model(tight, lambda _msg: None)
    table = str(caught.value)
    assert "parity gate failed" in table
    assert [(r.target, r.variant) for r in caught.value.failed] == [("tflite", "float16"), ("tfjs", "uint8")]
    assert "float16" in table and "uint8" in table and "FAIL" in table and "float32" not in table
