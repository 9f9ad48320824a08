"""The artifacts `make export` produced (session fixture): layout, goals on default data, manifest digests."""

from __future__ import annotations

import json
from pathlib import Path

from export.manifest import load_manifest, tree_digest
from export.warmup import WARMUP_FILE


def test_default_run_meets_the_accuracy_goals(artifacts: Path) -> None:
    models = load_manifest(artifacts)["models"]
    linear, ctr = models["linear"]["metrics"], models["ctr"]["metrics"]
    assert abs(linear["w"] - 0.8) <= 0.01 and abs(linear["b"] - 0.7) <= 0.01
    assert abs(ctr["auc"] - ctr["bayes_auc"]) <= 0.01, ctr
    meta = json.loads((artifacts / "data" / "ctr" / "meta.json").read_text())
    assert meta["bayes_auc"] == ctr["bayes_auc"]
    assert set(meta["schema"]) == {"label", "feature", "user_id", "article_id"}


def test_layout_and_saved_model_digests(artifacts: Path) -> None:
    data = artifacts / "data" / "ctr"
    assert list(data.glob("train-*-of-*.tfrecord")) and list(data.glob("eval-*-of-*.tfrecord"))
    for name, entry in load_manifest(artifacts)["models"].items():
        version_dir = artifacts / entry["path"]
        assert version_dir == artifacts / "models" / name / str(entry["version"])
        assert (version_dir / "saved_model.pb").is_file() and (version_dir / WARMUP_FILE).is_file()
        saved = next(a for a in entry["artifacts"] if a["kind"] == "saved_model")
        assert (saved["sha256"], saved["bytes"]) == tree_digest(version_dir)
        checkpoints = list((artifacts / "train" / name / "checkpoints").glob("ckpt-*.index"))
        assert 1 <= len(checkpoints) <= 5
        assert list((artifacts / "train" / name).glob("events.out.tfevents.*"))
