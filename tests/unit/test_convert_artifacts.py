"""The convert stage of `make export`: every bundle is on disk, in manifest.json, gated and described."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.convert.settings import DEFAULT_GATES
from export.models import get, names

pytestmark = pytest.mark.needs_export


@pytest.fixture(scope="module")
def manifest(artifacts: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((artifacts / "manifest.json").read_text())
    return loaded


@pytest.mark.parametrize("model", names())
def test_manifest_lists_every_planned_bundle_within_its_gate(
    artifacts: Path, manifest: dict[str, dict[str, dict[str, list[dict[str, object]]]]], model: str
) -> None:
    kit = get(model)
    entries = {(a["kind"], a["variant"]): a for a in manifest["models"][model]["artifacts"]}
    wanted = [("tflite", v) for v in kit.tflite_variants] + [("tfjs", v) for v in kit.tfjs_variants]
    for kind, variant in wanted:
        entry = entries[(kind, variant)]
        path = artifacts / str(entry["path"])
        expected = (
            f"{kind}/{model}/{variant}.tflite" if kind == "tflite" else f"{kind}/{model}/{variant}/model.json"
        )
        assert entry["path"] == expected
        assert entry["signature"] == "serving_default"
        assert entry["parity_gate"] == DEFAULT_GATES[(kind, variant)]
        error = entry["parity_error"]
        assert isinstance(error, float) and error <= DEFAULT_GATES[(kind, variant)]
        sidecar_file = (
            path.with_suffix(".signature.json") if kind == "tflite" else path.parent / "signature.json"
        )
        sidecar = json.loads(sidecar_file.read_text())
        # The sidecar and the ledger list the same files with the same digests (relative to each's root).
        files = entry["files"]
        assert isinstance(files, list)
        in_ledger = {Path(f["path"]).name: (f["sha256"], f["bytes"]) for f in files}
        assert {f["path"]: (f["sha256"], f["bytes"]) for f in sidecar["files"]} == in_ledger
        assert entry["bytes"] == sidecar["bytes"] == sum(f["bytes"] for f in files)
        side_entry = entries[("sidecar", f"{kind}/{variant}")]
        assert side_entry["path"] == sidecar_file.relative_to(artifacts).as_posix()
        assert sidecar["parity"]["rows"] >= 256 and sidecar["parity"]["passed"]
        assert "preprocessing" in sidecar


def test_int8_ctr_is_small_and_keeps_ranking(
    manifest: dict[str, dict[str, dict[str, list[dict[str, object]]]]], artifacts: Path
) -> None:
    entries = {(a["kind"], a["variant"]): a for a in manifest["models"]["ctr"]["artifacts"]}
    int8, float32 = entries[("tflite", "int8")], entries[("tflite", "float32")]
    assert isinstance(int8["bytes"], int) and isinstance(float32["bytes"], int)
    assert int8["bytes"] <= 0.30 * float32["bytes"]
    sidecar = json.loads((artifacts / "tflite" / "ctr" / "int8.signature.json").read_text())
    assert sidecar["parity"]["auc_delta"] is not None and sidecar["parity"]["auc_delta"] <= 0.005
