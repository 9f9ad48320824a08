"""Signature sidecar JSON written next to each bundle: what an app feeds and gets back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from export.convert.parity import ParityResult
from export.convert.signature import CTR_FEATURES, ID_INPUTS, ID_MAX, SignatureSpec

FEATURE_ORDER = [
    {"slice": [0, 1], "name": "channel_id", "note": "the channel id as a float"},
    {"slice": [1, 101], "name": "article_vector", "note": "100 floats"},
    {"slice": [101, 111], "name": "user_weights", "note": "10 floats"},
    {"slice": [111, 121], "name": "article_keyword_weights", "note": "10 floats"},
]


def preprocessing(kit_model: str | None, target: str) -> dict[str, Any] | None:
    """What an app must do before calling one of our models; None for foreign models."""
    if kit_model == "linear":
        return {"x": "one float32 per row, shape [batch, 1]; no scaling (the model is y = w*x + b)"}
    if kit_model != "ctr":
        return None
    id_dtype = "int32 (TF.js has no int64; ids are fed as int32 tensors)" if target == "tfjs" else "int64"
    return {
        "feature": {
            "dtype": "float32",
            "width": CTR_FEATURES,
            "order": FEATURE_ORDER,
            "note": "concatenate in this order; float64 source values are cast to float32",
        },
        "ids": {
            "inputs": list(ID_INPUTS),
            "dtype": id_dtype,
            "min": 0,
            "max": ID_MAX,
            "note": "valid ids: 0 <= id < 2**31; the model hashes them into embedding buckets by integer "
            "modulo, so any id in range is accepted; map larger or string ids into this range in the app",
        },
        "output": "probability: float32 [batch, 1], the click probability",
    }


def sha256_of(files: list[Path]) -> str:
    """sha256 over the files' bytes in order (tflite: the file; tfjs: model.json then shards)."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def build_sidecar(
    spec: SignatureSpec,
    target: str,
    variant: str,
    model: str,
    kit_model: str | None,
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
        "files": [f.name for f in files],
        "bytes": sum(f.stat().st_size for f in files),
        "sha256": sha256_of(files),
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
    prep = preprocessing(kit_model, target)
    if prep is not None:
        sidecar["preprocessing"] = prep
    if parity is not None:
        sidecar["parity"] = {
            "rows": parity.rows,
            "max_abs_error": parity.max_abs_error,
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
