"""Run a `.tflite` bundle exactly as a mobile app does: load the file, get the signature runner, feed
named inputs built from the signature sidecar, read the named outputs.

    python examples/tflite_predict.py --model-file artifacts/tflite/ctr/float32.tflite \
        --inputs '{"feature": [[0.1, ...121 numbers]], "user_id": [42], "article_id": [7]}'

The sidecar (default: `<variant>.signature.json` next to the file) gives the signature key and each
input's name, dtype and shape; ids are int64, as on Android (`LongArray`) and iOS (`Int64`). Without
`--inputs` every input is zeros with batch 1. `--inputs` takes JSON text or `@file.json`. Prints JSON:
`{"model_file", "signature", "inputs": {name: {dtype, shape}}, "outputs": {name: nested list}}`.
Uses only `ai_edge_litert` (LiteRT), not TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


class PredictError(ValueError):
    """Bad model file, sidecar or inputs; the message names what and where."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: str  # numpy dtype name: float32, int64, ...
    shape: tuple[int, ...]  # -1 = any size


@dataclass(frozen=True)
class Signature:
    key: str
    inputs: tuple[InputSpec, ...]


def sidecar_path(model_file: Path) -> Path:
    return model_file.with_name(model_file.name.removesuffix(".tflite") + ".signature.json")


def _input_specs(raw: Any, where: Path) -> tuple[InputSpec, ...]:
    items = list(raw.items()) if isinstance(raw, dict) else [(t.get("name"), t) for t in raw]
    specs = []
    for name, info in items:
        try:
            specs.append(
                InputSpec(str(name), str(np.dtype(info["dtype"])), tuple(int(d) for d in info["shape"]))
            )
        except (KeyError, TypeError, ValueError) as err:
            raise PredictError(
                f"{where}: input {name!r} needs a name, a numpy dtype and a shape ({err})"
            ) from err
    return tuple(specs)


def read_sidecar(path: Path) -> Signature:
    """The signature key and input list an app hard-codes, as recorded by `tfkit convert`."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise PredictError(f"cannot read sidecar {path}: {err.strerror}") from err
    except ValueError as err:
        raise PredictError(f"sidecar {path} is not JSON: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list | dict):
        raise PredictError(f"sidecar {path} has no 'inputs' list")
    key = data.get("signature") or data.get("signature_key") or DEFAULT_SIGNATURE
    return Signature(key=str(key), inputs=_input_specs(data["inputs"], path))


def signature_from_model(runner: Any, key: str) -> Signature:
    """No sidecar: read the input list from the flatbuffer itself."""
    details = runner.get_input_details()
    return Signature(
        key=key,
        inputs=tuple(
            InputSpec(name, np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape_signature"]))
            for name, d in sorted(details.items())
        ),
    )


def build_inputs(signature: Signature, values: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """Named arrays of the sidecar's dtypes; zeros with batch 1 when no values are given."""
    if values is None:
        return {
            s.name: np.zeros([1 if d < 0 else d for d in s.shape], dtype=s.dtype) for s in signature.inputs
        }
    expected = [s.name for s in signature.inputs]
    unknown = sorted(set(values) - set(expected))
    missing = [n for n in expected if n not in values]
    if unknown or missing:
        raise PredictError(
            f"signature {signature.key!r} takes inputs {expected}; "
            f"missing {missing or 'none'}, unknown {unknown or 'none'}"
        )
    arrays = {}
    for spec in signature.inputs:
        try:
            array = np.asarray(values[spec.name], dtype=spec.dtype)
        except (TypeError, ValueError, OverflowError) as err:
            raise PredictError(f"input {spec.name!r}: cannot convert to {spec.dtype}: {err}") from err
        dims_ok = array.ndim == len(spec.shape) and all(
            d in (-1, n) for d, n in zip(spec.shape, array.shape, strict=False)
        )
        if not dims_ok:
            raise PredictError(
                f"input {spec.name!r}: shape {list(array.shape)} does not match {list(spec.shape)}"
            )
        arrays[spec.name] = array
    return arrays


def _quantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Integer-quantized model inputs (int8 I/O) take real values mapped through scale and zero point."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype == array.dtype or not scale or array.dtype.kind != "f":
        return array.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(array / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if array.dtype.kind in "iu" and scale:
        return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return array


def predict(model_file: Path, sidecar: Path | None, values: dict[str, Any] | None) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter

    if not model_file.is_file():
        raise PredictError(f"model file {model_file} does not exist")
    try:
        interpreter = Interpreter(model_path=str(model_file))
    except ValueError as err:
        raise PredictError(f"{model_file} is not a loadable .tflite model: {err}") from err
    keys = list(interpreter.get_signature_list())
    default_sidecar = sidecar_path(model_file)
    if sidecar is None and default_sidecar.is_file():
        sidecar = default_sidecar
    recorded = read_sidecar(sidecar) if sidecar else None
    wanted = recorded.key if recorded else DEFAULT_SIGNATURE
    if wanted not in keys:
        raise PredictError(f"{model_file} has no signature {wanted!r}; it has {keys}")
    runner = interpreter.get_signature_runner(wanted)
    signature = recorded or signature_from_model(runner, wanted)
    in_details = runner.get_input_details()
    if sorted(in_details) != sorted(s.name for s in signature.inputs):
        raise PredictError(
            f"sidecar {sidecar} lists inputs {[s.name for s in signature.inputs]} "
            f"but {model_file} takes {sorted(in_details)}"
        )
    arrays = build_inputs(signature, values)
    outputs = runner(**{n: _quantize(a, in_details[n]) for n, a in arrays.items()})
    out_details = runner.get_output_details()
    return {
        "model_file": str(model_file),
        "signature": signature.key,
        "inputs": {s.name: {"dtype": s.dtype, "shape": list(s.shape)} for s in signature.inputs},
        "outputs": {n: _dequantize(v, out_details[n]).tolist() for n, v in sorted(outputs.items())},
    }


def parse_inputs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    where = "--inputs"
    if text.startswith("@"):
        where = text[1:]
        try:
            text = Path(where).read_text()
        except OSError as err:
            raise PredictError(f"cannot read --inputs file {where}: {err.strerror}") from err
    try:
        values = json.loads(text)
    except ValueError as err:
        raise PredictError(f"{where} is not JSON: {err}") from err
    if not isinstance(values, dict):
        raise PredictError(f"{where} must be a JSON object of input name -> nested list")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-file", type=Path, required=True, help="a .tflite file")
    parser.add_argument("--sidecar", type=Path, help="signature sidecar (default: <variant>.signature.json)")
    parser.add_argument("--inputs", help="JSON object {input name: nested list} or @file.json")
    args = parser.parse_args(argv)
    try:
        result = predict(args.model_file, args.sidecar, parse_inputs(args.inputs))
    except PredictError as err:
        print(f"tflite_predict: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
