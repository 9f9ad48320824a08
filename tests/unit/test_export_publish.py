"""Atomic version publishing, version numbering, manifest read/write and the inspect table."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.manifest import add_artifact, artifact_entry, load_manifest, set_model, tree_digest
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


def test_tree_digest_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_bytes(b"1")
    (tmp_path / "a").write_bytes(b"22")
    sha, size = tree_digest(tmp_path)
    assert size == 3 and tree_digest(tmp_path) == (sha, 3)
    (tmp_path / "a").write_bytes(b"23")
    assert tree_digest(tmp_path)[0] != sha


def test_manifest_add_artifact_replaces_same_kind_and_variant(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "m" / "1"
    model_dir.mkdir(parents=True)
    (model_dir / "f").write_bytes(b"abc")
    set_model(tmp_path, "m", 1, {"auc": 0.8})
    add_artifact(tmp_path, "m", artifact_entry(tmp_path, "saved_model", "float32", model_dir))
    add_artifact(
        tmp_path, "m", {"kind": "tflite", "variant": "int8", "path": "t", "parity_max_abs_error": 0.5}
    )
    add_artifact(
        tmp_path,
        "m",
        {
            "kind": "tflite",
            "variant": "int8",
            "path": "t",
            "parity_max_abs_error": 1e-3,
            "parity_gate": 0.02,
            "bytes": 2048,
        },
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
    with pytest.raises(ValueError, match="lacks"):
        add_artifact(tmp_path, "m", {"kind": "tfjs"})
    set_model(tmp_path, "m", 1, {"auc": 0.9})
    assert len(load_manifest(tmp_path)["models"]["m"]["artifacts"]) == 2
    set_model(tmp_path, "m", 2, {"auc": 0.9})
    assert load_manifest(tmp_path)["models"]["m"]["artifacts"] == []
