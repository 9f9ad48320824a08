"""Atomic version publishing, version numbering, the artifact ledger (manifest) and the inspect table."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from export.manifest import (
    artifact_entry,
    editing,
    load_manifest,
    put_artifact,
    record_version,
    sha256sum_lines,
)
from export.manifest_table import render
from export.publish import existing_versions, next_version, publishing


def test_versions_are_numbered_after_the_highest(tmp_path: Path) -> None:
    assert next_version(tmp_path / "missing") == 1
    for name in ("1", "7", "00003", ".tmp-9-x", "notes"):
        (tmp_path / name).mkdir()
    assert existing_versions(tmp_path) == [1, 3, 7]
    assert next_version(tmp_path) == 8


def test_nothing_is_visible_until_the_rename(tmp_path: Path) -> None:
    with publishing(tmp_path, 1) as staging:
        (staging / "saved_model.pb").parent.mkdir(parents=True)
        (staging / "saved_model.pb").write_bytes(b"x")
        assert existing_versions(tmp_path) == []
        assert staging.parent.parent == tmp_path and not staging.parent.name.isdigit()
    assert (tmp_path / "1" / "saved_model.pb").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_failed_publish_leaves_no_version_and_no_temp(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), publishing(tmp_path, 4) as staging:
        staging.mkdir()
        (staging / "half").write_text("written")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    with pytest.raises(FileExistsError, match="2 already exists"), publishing(tmp_path, 2):
        pass


def _tree(root: Path) -> Path:
    bundle = root / "tfjs" / "m" / "float32"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "model.json").write_bytes(b"{}")
    (bundle / "sub" / "group1-shard1of1.bin").write_bytes(b"1234")
    return bundle


def test_entry_lists_every_file_and_verifies_with_sha256sum(tmp_path: Path) -> None:
    bundle = _tree(tmp_path)
    entry = artifact_entry(tmp_path, "tfjs", "float32", bundle, signature="serving_default", parity_gate=1e-5)
    assert entry["path"] == "tfjs/m/float32" and entry["bytes"] == 6 and entry["parity_gate"] == 1e-5
    assert [f["path"] for f in entry["files"]] == [
        "tfjs/m/float32/model.json",
        "tfjs/m/float32/sub/group1-shard1of1.bin",
    ]
    listing = sha256sum_lines(entry)
    assert entry["sha256"] == hashlib.sha256(listing.encode()).hexdigest()  # the one documented digest
    check = ["sha256sum", "--strict", "-c", "-"]
    done = subprocess.run(check, input=listing, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count(": OK") == 2, done.stdout + done.stderr
    (bundle / "model.json").write_bytes(b"{ }")
    done = subprocess.run(check, input=listing, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "model.json: FAILED" in done.stdout
    assert artifact_entry(tmp_path, "tfjs", "float32", bundle)["sha256"] != entry["sha256"]


def test_entry_for_chosen_files_and_a_single_file(tmp_path: Path) -> None:
    bundle = _tree(tmp_path)
    chosen = artifact_entry(tmp_path, "tfjs", "float32", bundle / "model.json", files=[bundle / "model.json"])
    assert chosen["path"] == "tfjs/m/float32/model.json" and chosen["bytes"] == 2
    single = artifact_entry(tmp_path, "sidecar", "tfjs/float32", bundle / "model.json")
    assert single["files"] == chosen["files"] and single["sha256"] == chosen["sha256"]


def test_a_command_writes_the_manifest_once_and_atomically(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "m" / "1"
    model_dir.mkdir(parents=True)
    (model_dir / "f").write_bytes(b"abc")
    with editing(tmp_path) as manifest:
        record_version(manifest, "m", 1, {"auc": 0.8}, kit_model="ctr")
        put_artifact(manifest, "m", artifact_entry(tmp_path, "saved_model", "float32", model_dir))
        assert not (tmp_path / "manifest.json").exists()  # nothing visible before the block ends
    assert sorted(p.name for p in tmp_path.iterdir()) == [".manifest.lock", "manifest.json", "models"]
    with pytest.raises(RuntimeError, match="boom"), editing(tmp_path) as manifest:
        manifest["models"].clear()
        raise RuntimeError("boom")
    assert load_manifest(tmp_path)["models"]["m"]["kit_model"] == "ctr"  # a failed command wrote nothing


def test_put_artifact_replaces_same_kind_and_variant(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "m" / "1"
    model_dir.mkdir(parents=True)
    (model_dir / "f").write_bytes(b"abc")
    (tmp_path / "t").write_bytes(b"x" * 2048)
    with editing(tmp_path) as manifest:
        record_version(manifest, "m", 1, {"auc": 0.8}, kit_model="ctr")
        put_artifact(manifest, "m", artifact_entry(tmp_path, "saved_model", "float32", model_dir))
        put_artifact(
            manifest, "m", artifact_entry(tmp_path, "tflite", "int8", tmp_path / "t", parity_error=0.5)
        )
        put_artifact(
            manifest,
            "m",
            artifact_entry(tmp_path, "tflite", "int8", tmp_path / "t", parity_error=1e-3, parity_gate=0.02),
        )
    entry = load_manifest(tmp_path)["models"]["m"]
    assert entry["version"] == 1 and entry["path"] == "models/m/1" and entry["metrics"] == {"auc": 0.8}
    assert [(a["kind"], a["variant"]) for a in entry["artifacts"]] == [
        ("saved_model", "float32"),
        ("tflite", "int8"),
    ]
    saved = entry["artifacts"][0]
    assert saved["path"] == "models/m/1" and saved["bytes"] == 3 and saved["signature"] == "serving_default"
    table = render(tmp_path)
    assert "auc=0.8" in table and "2.0 KiB" in table and "1.00e-03 <= 2e-02 ok" in table
    with editing(tmp_path) as manifest:
        with pytest.raises(ValueError, match="lacks"):
            put_artifact(manifest, "m", {"kind": "tfjs"})
        record_version(manifest, "m", 1, {"auc": 0.9}, kit_model="ctr")
        assert len(manifest["models"]["m"]["artifacts"]) == 2
        record_version(manifest, "m", 2, {"auc": 0.9}, kit_model="ctr")
        assert manifest["models"]["m"]["artifacts"] == []
