"""The artifacts `make export` produced (session fixture): layout, goals on default data, the ledger."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from export.exporter import VERSION_TFLITE
from export.manifest import load_manifest, sha256sum_lines
from export.models import names
from export.warmup import WARMUP_FILE
from serving.tflite_session import TFLITE_MODEL

pytestmark = pytest.mark.needs_export


def test_default_run_meets_the_accuracy_goals(artifacts: Path) -> None:
    models = load_manifest(artifacts)["models"]
    linear, ctr = models["linear"]["metrics"], models["ctr"]["metrics"]
    assert abs(linear["w"] - 0.8) <= 0.01 and abs(linear["b"] - 0.7) <= 0.01
    assert abs(ctr["auc"] - ctr["bayes_auc"]) <= 0.01, ctr
    meta = json.loads((artifacts / "data" / "ctr" / "meta.json").read_text())
    assert meta["bayes_auc"] == ctr["bayes_auc"]
    assert set(meta["schema"]) == {"label", "feature", "user_id", "article_id"}


def test_layout_and_saved_model_entries(artifacts: Path) -> None:
    data = artifacts / "data" / "ctr"
    assert list(data.glob("train-*-of-*.tfrecord")) and list(data.glob("eval-*-of-*.tfrecord"))
    models = load_manifest(artifacts)["models"]
    assert sorted(models) == sorted(names())
    for name, entry in models.items():
        assert entry["kit_model"] == name
        version_dir = artifacts / entry["path"]
        assert version_dir == artifacts / "models" / name / str(entry["version"])
        assert (version_dir / "saved_model.pb").is_file() and (version_dir / WARMUP_FILE).is_file()
        saved = next(a for a in entry["artifacts"] if a["kind"] == "saved_model")
        lite = next(a for a in entry["artifacts"] if a["kind"] == VERSION_TFLITE)
        on_disk = sorted(p.relative_to(artifacts).as_posix() for p in version_dir.rglob("*") if p.is_file())
        assert [f["path"] for f in saved["files"]] == on_disk  # the whole version, model.tflite included
        served_tflite = (version_dir / TFLITE_MODEL).relative_to(artifacts).as_posix()
        assert [f["path"] for f in lite["files"]] == [served_tflite]  # + its own parity record
        assert lite["variant"] == "float32" and lite["signature"] == "serving_default"
        assert lite["parity_error"] <= lite["parity_gate"] == 1e-5
        checkpoints = list((artifacts / "train" / name / "checkpoints").glob("ckpt-*.index"))
        assert 1 <= len(checkpoints) <= 5
        assert list((artifacts / "train" / name).glob("events.out.tfevents.*"))


def test_every_ledger_entry_verifies_with_sha256sum(artifacts: Path) -> None:
    """The manifest's per-file list is real `sha256sum -c` input, run in the artifacts directory."""
    entries = [a for m in load_manifest(artifacts)["models"].values() for a in m["artifacts"]]
    assert {a["kind"] for a in entries} >= {"saved_model", "version_tflite", "tflite", "tfjs", "sidecar"}
    listing = "".join(sha256sum_lines(a) for a in entries)
    done = subprocess.run(
        ["sha256sum", "--strict", "-c", "-"], input=listing, cwd=artifacts, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == sum(len(a["files"]) for a in entries)
