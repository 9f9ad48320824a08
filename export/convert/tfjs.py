"""SavedModel signature -> TF.js graph model in one variant (float32, float16, uint8 weights)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from export.convert.ops import tfjs_unsupported
from export.convert.signature import SignatureSpec
from export.convert.tflite import ConversionError

log = logging.getLogger(__name__)

# Like TFLite's dynamic-range rule: weights with fewer elements (biases, normalisation vectors, a wide
# layer's column) stay float32 in the quantized variants; they are tiny and quantizing them costs accuracy.
MIN_QUANTIZED_ELEMENTS = 1024


def _glob_literal(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _run_converter(
    saved_model_dir: Path, signature: str, out_dir: Path, quantization: dict[str, Any] | None
) -> None:
    with warnings.catch_warnings():  # tensorflow_hub (imported by tensorflowjs) warns about pkg_resources
        warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*", category=UserWarning)
        from tensorflowjs.converters import tf_saved_model_conversion_v2 as tfjs_v2

    if out_dir.exists():
        shutil.rmtree(out_dir)
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            tfjs_v2.convert_tf_saved_model(
                str(saved_model_dir),
                str(out_dir),
                signature_def=signature,
                saved_model_tags="serve",
                quantization_dtype_map=quantization,
                strip_debug_ops=True,
                use_structured_outputs_names=True,
            )
    except Exception as err:  # ValueError for ops; anything else is a converter failure
        unsupported = tfjs_unsupported(str(err))
        if unsupported is not None:
            raise unsupported from None
        raise ConversionError(f"TF.js conversion of {saved_model_dir} to {out_dir} failed: {err}") from err
    finally:
        if chatter.getvalue():
            log.debug("tensorflowjs: %s", chatter.getvalue().strip())


def large_weights(model_json: Path) -> list[str]:
    """Names of float weights with at least MIN_QUANTIZED_ELEMENTS elements."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    return [
        w["name"]
        for group in manifest
        for w in group["weights"]
        if w["dtype"] == "float32" and math.prod(w["shape"]) >= MIN_QUANTIZED_ELEMENTS
    ]


def convert_tfjs(saved_model_dir: Path, signature: str, variant: str, out_dir: Path) -> Path:
    """Write `out_dir/model.json` + weight shards (structured output names kept); return model.json.

    float16/uint8 quantize only the weights with >= MIN_QUANTIZED_ELEMENTS elements."""
    # tensorflowjs imports tensorflow_decision_forests, whose welcome banner imports IPython whenever
    # stdout is not a terminal (pytest, pipes): that import fails without IPython, so skip the banner.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    if variant == "float32":
        _run_converter(saved_model_dir, signature, out_dir, None)
        return out_dir / "model.json"
    with tempfile.TemporaryDirectory(prefix="tfkit-tfjs-weights-") as tmp:
        _run_converter(saved_model_dir, signature, Path(tmp) / "float32", None)
        names = large_weights(Path(tmp) / "float32" / "model.json")
    quantization = {variant: [_glob_literal(n) for n in names]} if names else None
    _run_converter(saved_model_dir, signature, out_dir, quantization)
    return out_dir / "model.json"


def bundle_files(model_json: Path) -> list[Path]:
    """model.json followed by its weight shards in manifest order."""
    manifest = json.loads(model_json.read_text())
    shards = [model_json.parent / p for group in manifest.get("weightsManifest", []) for p in group["paths"]]
    return [model_json, *shards]


def io_names(model_json: Path, spec: SignatureSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Signature input name -> graph node to feed, signature output name -> graph tensor to fetch.

    The converter may key inputs by tensor name ("user_id:0") when two inputs share dtype and shape,
    so the node name is taken from each entry's `name`, never from the key alone."""
    signature: dict[str, Any] = json.loads(model_json.read_text()).get("signature", {})
    ins: dict[str, Any] = signature.get("inputs", {})
    outs: dict[str, Any] = signature.get("outputs", {})
    feeds: dict[str, str] = {}
    for info in spec.inputs:
        entry = ins.get(info.name) or ins.get(f"{info.name}:0")
        if entry is None:
            raise ConversionError(f"TF.js model {model_json} has no input for signature input {info.name!r}")
        feeds[info.name] = str(entry["name"]).split(":")[0]
    fetches: dict[str, str] = {}
    for info in spec.outputs:
        if info.name not in outs:
            raise ConversionError(
                f"TF.js model {model_json} lost output name {info.name!r} (has {', '.join(outs) or 'none'})"
            )
        fetches[info.name] = str(outs[info.name]["name"])
    return feeds, fetches
