"""The REST wire format (TF Serving JSON, contract §1.3-1.8): request bodies and response decoding.

Encoding uses orjson straight from numpy buffers; bodies holding NaN/Infinity fall back to the standard
library, which writes the bare `NaN`/`Infinity` tokens TF Serving accepts (orjson would write null).
Decoding tries orjson and falls back to the standard library for responses carrying those tokens.
Bytes go out as `{"b64": ...}`; DT_STRING outputs come back as Python bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from clients._request import NUMPY_DTYPES, Format, example_features
from clients._types import Classifications, Example, Metadata
from clients.errors import Code, Internal
from serving.types import SignatureInfo, State, TensorInfo, VersionStatus

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _b64(value: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(value).decode("ascii")}


def _b64_leaves(value: Any) -> Any:
    return [_b64_leaves(v) for v in value] if isinstance(value, list) else _b64(value)


def _bytes_json(array: np.ndarray) -> Any:
    """Nested lists of {"b64": ...} for an object array of bytes (any rank)."""
    return _b64_leaves(array.tolist())


def json_array(array: np.ndarray) -> Any:
    """What goes into the body for one tensor: the array itself (orjson reads its buffer) or b64 lists."""
    if array.dtype == object:
        return _bytes_json(array)
    if array.ndim == 0:
        return array[()]  # a numpy scalar (orjson writes 0-d arrays as lists)
    return np.ascontiguousarray(array)


def _finite(arrays: Mapping[str, np.ndarray]) -> bool:
    return all(a.dtype.kind not in "fc" or bool(np.isfinite(a).all()) for a in arrays.values())


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(body: Any, finite: bool = True) -> bytes:
    """Serialize a request body; `finite=False` keeps NaN/Infinity as the tokens TF Serving parses."""
    if finite:
        try:
            return orjson.dumps(body, option=_NUMPY)
        except orjson.JSONEncodeError:
            pass  # e.g. float16 or a non-contiguous view: the slow path below handles any numpy value
    return json.dumps(body, default=_plain, allow_nan=True, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # NaN / Infinity / -Infinity tokens


def _rows(array: np.ndarray) -> list[Any]:
    if array.dtype == object:
        rows: list[Any] = _bytes_json(array)
        return rows
    return list(np.ascontiguousarray(array))  # numpy scalars / row views: orjson writes float32 shortest


def predict_body(arrays: Mapping[str, np.ndarray], named: bool, fmt: Format, signature: str | None) -> bytes:
    """`{"instances": ...}` (row) or `{"inputs": ...}` (columnar); a bare value when not `named`."""
    body: dict[str, Any] = {}
    if signature is not None:
        body["signature_name"] = signature
    if fmt == "columnar":
        body["inputs"] = (
            {alias: json_array(a) for alias, a in arrays.items()} if named else json_array(arrays[""])
        )
    elif not named:
        body["instances"] = json_array(arrays[""])
    else:
        columns = {alias: _rows(a) for alias, a in arrays.items()}
        size = len(next(iter(columns.values())))
        body["instances"] = [{alias: rows[i] for alias, rows in columns.items()} for i in range(size)]
    return dumps(body, _finite(arrays))


def _feature_json(kind: str, values: list[Any]) -> list[Any]:
    return [_b64(v) for v in values] if kind == "bytes" else values


def examples_body(examples: Sequence[Example], context: Example | None, signature: str | None) -> bytes:
    """`{"examples": [...], "context": {...}}`: floats stay JSON decimals (float_list), ints integers."""

    def one(example: Example, where: str) -> dict[str, Any]:
        return {k: _feature_json(kind, vals) for k, (kind, vals) in example_features(example, where).items()}

    body: dict[str, Any] = {"examples": [one(e, f"example {i}") for i, e in enumerate(examples)]}
    if context is not None:
        body["context"] = one(context, "context")
    if signature is not None:
        body["signature_name"] = signature
    finite = all(
        not isinstance(v, float) or np.isfinite(v) for e in body["examples"] for vs in e.values() for v in vs
    )
    return dumps(body, finite)


def error_message(status: int, content: bytes) -> str:
    """The server's message from `{"error": msg}`; otherwise the body text (or the bare status)."""
    try:
        parsed = loads(content)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    text = content.decode("utf-8", errors="replace").strip()
    return text[:1024] if text else f"HTTP {status} with an empty body"


def _string_leaf(value: Any) -> Any:
    if isinstance(value, list):
        return [_string_leaf(v) for v in value]
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogateescape")
    raise Internal(f"unexpected value {value!r} in a DT_STRING output")


def to_numpy(value: Any, dtype: np.dtype[Any] | None) -> np.ndarray:
    """A JSON tensor as numpy, in the signature's dtype when known (bytes for DT_STRING)."""
    if dtype == np.dtype(object) or (dtype is None and _looks_textual(value)):
        leaves = _string_leaf(value)
        shape = np.shape(np.asarray(leaves, dtype=object)) if isinstance(leaves, list) else ()
        out = np.empty(shape, dtype=object)
        if isinstance(leaves, list):
            out[...] = leaves
        else:
            out[()] = leaves
        return out
    return np.asarray(value, dtype=dtype)


def _looks_textual(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, str | dict)


def decode_predict(body: Any, fmt: Format, outputs: Mapping[str, TensorInfo] | None) -> dict[str, np.ndarray]:
    """Turn `{"predictions": ...}` / `{"outputs": ...}` into alias -> array (dtypes from the signature)."""
    key = "predictions" if fmt == "row" else "outputs"
    if not isinstance(body, dict) or key not in body:
        raise Internal(f"REST predict response has no {key!r} key: {str(body)[:200]}")
    payload = body[key]
    dtypes = {alias: NUMPY_DTYPES.get(t.dtype) for alias, t in (outputs or {}).items()}
    if outputs is not None and len(outputs) == 1:
        alias = next(iter(outputs))
        return {alias: to_numpy(payload, dtypes[alias])}
    multi = (
        outputs is not None
        or (isinstance(payload, dict) and "b64" not in payload)
        or (fmt == "row" and bool(payload) and isinstance(payload[0], dict) and "b64" not in payload[0])
    )
    if not multi:
        return {key: to_numpy(payload, None)}
    if fmt == "columnar":
        return {alias: to_numpy(v, dtypes.get(alias)) for alias, v in payload.items()}
    aliases = list(outputs) if outputs is not None else (list(payload[0]) if payload else [])
    return {alias: to_numpy([row[alias] for row in payload], dtypes.get(alias)) for alias in aliases}


def decode_classify(body: Any) -> Classifications:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise Internal(f"REST classify response has no 'results' list: {str(body)[:200]}")
    return [[(str(label), float(np.float32(score))) for label, score in one] for one in results]


def decode_regress(body: Any) -> np.ndarray:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise Internal(f"REST regress response has no 'results' list: {str(body)[:200]}")
    return np.asarray(results, dtype=np.float32)


def decode_status(body: Any) -> list[VersionStatus]:
    """`GetModelStatusResponse` in proto3 JSON (REST body, or a gRPC response via MessageToDict)."""
    out = []
    for v in body.get("model_version_status", []):
        status = v.get("status") or {}
        out.append(
            VersionStatus(
                version=int(v.get("version", 0)),
                state=State[v.get("state", "UNKNOWN")],
                error_code=Code[status.get("error_code", "OK")],
                error_message=status.get("error_message", ""),
            )
        )
    return out


def _tensor_info(info: Mapping[str, Any]) -> TensorInfo:
    shape_json = info.get("tensor_shape") or {}
    shape = (
        None
        if shape_json.get("unknown_rank")
        else tuple(int(d.get("size", 0)) for d in shape_json.get("dim", []))
    )
    return TensorInfo(name=str(info.get("name", "")), dtype=str(info.get("dtype", "DT_INVALID")), shape=shape)


def decode_metadata(body: Any) -> Metadata:
    """`GetModelMetadataResponse` as REST renders it (signature_def nested twice, int64 as strings)."""
    try:
        spec = body["model_spec"]
        defs = body["metadata"]["signature_def"]["signature_def"]
    except (KeyError, TypeError):
        raise Internal(f"metadata response lacks model_spec / signature_def: {str(body)[:200]}") from None
    signatures = {
        key: SignatureInfo(
            name=key,
            method_name=str(d.get("method_name", "")),
            inputs={a: _tensor_info(t) for a, t in (d.get("inputs") or {}).items()},
            outputs={a: _tensor_info(t) for a, t in (d.get("outputs") or {}).items()},
        )
        for key, d in defs.items()
    }
    name, version = str(spec.get("name", "")), int(spec.get("version", 0))
    return Metadata(model=name, version=version, signatures=signatures)
