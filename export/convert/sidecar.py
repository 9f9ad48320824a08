"""Signature sidecar JSON written next to each bundle: what an app feeds and gets back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from export.convert.parity import ParityResult
from export.convert.signature import SignatureSpec
from export.manifest import file_sha256
from export.models import KitModel


def build_sidecar(
    spec: SignatureSpec,
    target: str,
    variant: str,
    model: str,
    kit: KitModel | None,
    feeds: dict[str, str] | None,
    files: list[Path],
    parity: ParityResult | None,
    flex_ops: tuple[str, ...],
    float_nodes: tuple[str, ...] = (),
) -> dict[str, Any]:
    inputs = []
    for info in spec.inputs:
        entry = info.to_json()
        if target == "tfjs":
            entry["feed_dtype"] = "int32" if info.dtype in ("int64", "int32") else info.dtype
            if feeds is not None:
                entry["feed_node"] = feeds[info.name]
        inputs.append(entry)
    sidecar: dict[str, Any] = {
        "model": model,
        "target": target,
        "variant": variant,
        "signature": spec.key,
        "inputs": inputs,
        "outputs": [o.to_json() for o in spec.outputs],
        # The bundle's files, paths relative to this sidecar's directory (`sha256sum -c` input there);
        # the manifest's ledger entry lists the same files relative to the artifacts directory.
        "files": [{"path": f.name, "sha256": file_sha256(f), "bytes": f.stat().st_size} for f in files],
        "bytes": sum(f.stat().st_size for f in files),
    }
    if target == "tfjs":
        sidecar["call"] = (
            "model.executeAsync({<feed_node>: tensor}) and read outputs by name (cpu/webgl backends)"
        )
    if target == "tflite":
        sidecar["call"] = 'Interpreter.getSignatureRunner("' + spec.key + '") with the input names above'
    if flex_ops:
        sidecar["requires_flex_runtime"] = list(flex_ops)
    if float_nodes:
        sidecar["float_ops"] = {
            "nodes": list(float_nodes),
            "why": "input layer kept float: one per-tensor int8 scale cannot cover features of very "
            "different ranges; every other op, embedding and hidden layer is int8",
        }
    prep = None if kit is None else kit.preprocessing({i.name: i.shape for i in spec.inputs}, target)
    if prep is not None:
        sidecar["preprocessing"] = prep
    if parity is not None:
        sidecar["parity"] = {
            "rows": parity.rows,
            "max_abs_error": parity.max_abs_error,
            "scale": parity.scale,
            "gate": parity.gate,
            "auc_delta": parity.auc_delta,
            "auc_gate": parity.auc_gate,
            "passed": parity.passed,
        }
    return sidecar


def sidecar_path(target: str, bundle: Path) -> Path:
    """tflite: <variant>.signature.json next to <variant>.tflite; tfjs: signature.json in the bundle dir."""
    return bundle.with_suffix(".signature.json") if target == "tflite" else bundle.parent / "signature.json"


def write_sidecar(path: Path, sidecar: dict[str, Any]) -> None:
    path.write_text(json.dumps(sidecar, indent=2) + "\n")
