"""TF Serving REST predict: request JSON -> named numpy tensors, output tensors -> response JSON.

Pure functions (no I/O, no server state), following `json_tensor.cc` and contract §1.3-1.5:

    body = parse_request_body(raw)                    # 1. JSON parse, 2. signature_name type
    ... the caller resolves model / version / signature (3.) ...
    inputs, fmt = predict_inputs(body, signature)     # 4. tensor conversion (row or columnar)
    json_bytes = predict_response(outputs, fmt)       # row -> {"predictions"}, columnar -> {"outputs"}

Input dtypes come from the signature (the JSON carries none). Numeric tensors are converted by numpy
in C when that provably equals the reference conversion; anything else takes the reference path in
`serving.rest.tensors`, which produces the upstream error texts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.dtypes import DType
from serving.dtypes import for_enum_name as dtype_for
from serving.rest.debugtext import debug_string
from serving.rest.jsonio import document, encode_body, is_b64_object, layout, parse_json, pretty_object
from serving.rest.tensors import (
    array_of,
    element_texts,
    fast_tensor_from_json,
    leaves,
    shape_string,
    tensor_from_json,
    wrapped,
)
from serving.status import InvalidArgument, ServingError
from serving.types import SignatureInfo


class RequestFormat(enum.Enum):
    ROW = "instances"
    COLUMNAR = "inputs"


@dataclass(frozen=True)
class JsonRequest:
    """A parsed request document: the object, its signature name, and a hint for the fast path."""

    doc: dict[str, Any]
    signature_name: str
    numbers_only: bool  # no true/false literal anywhere in the body


def format_error(doc: Any, message: str) -> InvalidArgument:
    """FormatError: `JSON Value: <doc> <message>`."""
    return InvalidArgument(f"JSON Value: {debug_string(doc)} {message}")


def parse_request_body(raw: bytes) -> JsonRequest:
    """Steps 1-2 for predict, classify and regress: parse, top level is an object, signature_name."""
    doc = parse_json(raw)
    if type(doc) is not dict:
        raise format_error(doc, "Is not object")
    signature = doc.get("signature_name", "")
    if type(signature) is not str:
        raise format_error(doc, "not formatted correctly. 'signature_name' key must be a string value.")
    return JsonRequest(doc, signature, b"true" not in raw and b"false" not in raw)


def _input_types(signature: SignatureInfo) -> dict[str, DType]:
    if not signature.inputs:
        raise InvalidArgument(f"Failed to get input map for signature: {signature.name or 'DEFAULT'}")
    return {alias: dtype_for(info.dtype) for alias, info in sorted(signature.inputs.items())}


def predict_inputs(
    request: JsonRequest, signature: SignatureInfo
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """Step 4: tensors from `instances` (row) or `inputs` (columnar), typed by the signature inputs."""
    types = _input_types(signature)
    doc = request.doc
    if "instances" in doc:
        if "inputs" in doc:
            raise format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc["instances"]
        if type(instances) is not list:
            raise format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise format_error(doc, "No values in 'instances' array")
        fast = _fast_rows(instances, types, request.numbers_only)
        return (fast if fast is not None else _rows(instances, types)), RequestFormat.ROW
    if "inputs" in doc:
        return _columns(doc["inputs"], types, request.numbers_only), RequestFormat.COLUMNAR
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _convert(value: Any, dt: DType, numbers_only: bool) -> np.ndarray:
    fast = fast_tensor_from_json(value, dt, numbers_only)
    return fast if fast is not None else tensor_from_json(value, dt)


def _columns(value: Any, types: dict[str, DType], numbers_only: bool) -> dict[str, np.ndarray]:
    """Columnar `inputs`: one tensor, or an object alias -> tensor (extra keys ignored, as upstream)."""
    if type(value) is not dict or is_b64_object(value):
        if len(types) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        alias, dt = next(iter(types.items()))
        return {alias: _convert(value, dt, numbers_only)}
    tensors: dict[str, np.ndarray] = {}
    for alias, dt in types.items():
        if alias not in value:
            raise InvalidArgument(f"Missing named input: {alias} in 'inputs' object.")
        tensors[alias] = _convert(value[alias], dt, numbers_only)
    return tensors


def _is_element_object(value: Any) -> bool:
    return type(value) is dict and not is_b64_object(value)


def _fast_rows(
    instances: list[Any], types: dict[str, DType], numbers_only: bool
) -> dict[str, np.ndarray] | None:
    """Row format through numpy when every row is well-formed (else None: take the reference path)."""
    if not _is_element_object(instances[0]):
        if len(types) != 1:
            return None
        alias, dt = next(iter(types.items()))
        arr = fast_tensor_from_json(instances, dt, numbers_only)
        return {alias: arr} if arr is not None and arr.ndim >= 1 else None
    names = set(types)
    if not all(type(row) is dict and row.keys() == names for row in instances):
        return None
    tensors: dict[str, np.ndarray] = {}
    for alias, dt in types.items():
        arr = fast_tensor_from_json([row[alias] for row in instances], dt, numbers_only)
        if arr is None:
            return None
        tensors[alias] = arr
    return tensors


class _RowTensor:
    """Accumulates one named input across `instances` rows, checking size and shape per row."""

    def __init__(self, dt: DType) -> None:
        self.dt = dt
        self.values: list[Any] = []
        self.shape: list[int] | None = None
        self.size = 0

    def add(self, item: Any) -> None:
        values, shape = leaves(item, self.dt)
        if self.shape is None:
            self.shape, self.size = shape, len(values)
        elif len(values) != self.size:
            raise InvalidArgument(f"Expecting tensor size: {self.size} but got: {len(values)}")
        elif shape != self.shape:
            raise InvalidArgument(
                f"Expecting shape {shape_string(self.shape)} but got: {shape_string(shape)}"
            )
        self.values.extend(values)


def _rows(instances: list[Any], types: dict[str, DType]) -> dict[str, np.ndarray]:
    """Reference row-format conversion (FillTensorMapFromInstancesList) with the upstream errors."""
    if type(instances[0]) is not dict and len(types) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    objects = _is_element_object(instances[0])
    names = set(types)
    acc: dict[str, _RowTensor] = {}
    for i, elem in enumerate(instances):
        if objects:
            if not _is_element_object(elem):
                raise InvalidArgument(f"Expecting object but got list at item {i} of input list")
            for key, item in elem.items():
                try:
                    if key not in types:
                        raise InvalidArgument(f"JSON object: does not have named input: {key}")
                    acc.setdefault(key, _RowTensor(types[key])).add(item)
                except ServingError as err:
                    raise InvalidArgument(
                        f"Failed to process element: {i} key: {key} of 'instances' list."
                        f" Error: {wrapped(err)}"
                    ) from None
            if elem.keys() != names:
                raise InvalidArgument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: {debug_string(elem)}"
                    f" keys must be equal to: {','.join(sorted(names))}"
                )
        else:
            if _is_element_object(elem):
                raise InvalidArgument(f"Expecting value/list but got object at item {i} of input list")
            alias = next(iter(types))
            try:
                acc.setdefault(alias, _RowTensor(types[alias])).add(elem)
            except ServingError as err:
                raise InvalidArgument(
                    f"Failed to process element: {i} of 'instances' list. Error: {wrapped(err)}"
                ) from None
    count = len(instances)
    return {alias: array_of(row.values, row.dt, [count, *(row.shape or [])]) for alias, row in acc.items()}


def predict_response(outputs: dict[str, np.ndarray], fmt: RequestFormat) -> bytes:
    """Response JSON: row requests get `predictions`, columnar requests get `outputs`.

    Laid out byte for byte as MakeJsonFromTensors' PrettyWriter: row items on one line (`[1, 2]`),
    columnar tensors one element per line.
    """
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    if fmt is RequestFormat.ROW:
        return encode_body(_row_json(outputs))
    level = 1 if len(outputs) == 1 else 2  # containers open around each tensor value
    values = [
        (alias, layout(element_texts(alias, arr, level + arr.ndim), arr.shape, 1, level, True)[0])
        for alias, arr in outputs.items()
    ]
    return encode_body(document("outputs", values[0][1] if len(values) == 1 else pretty_object(values, 1)))


def _row_json(outputs: dict[str, np.ndarray]) -> str:
    batch = -1
    for alias, arr in outputs.items():
        if arr.ndim == 0:
            raise InvalidArgument(f"Tensor name: {alias} has no shape information ")
        if batch >= 0 and arr.shape[0] != batch:
            raise InvalidArgument(
                f"Tensor name: {alias} has inconsistent batch size: {arr.shape[0]} expecting: {batch}"
            )
        batch = arr.shape[0]
    level = 2 if len(outputs) == 1 else 3  # containers open around each row's value
    rows = {
        alias: layout(element_texts(alias, arr, level + arr.ndim - 1), arr.shape[1:], batch, level, False)
        for alias, arr in outputs.items()
    }
    if not batch:
        return document("predictions", "[]")
    if len(rows) == 1:
        (items,) = rows.values()
        return document("predictions", "[" + ", ".join(items) + "\n    ]")
    objects = [pretty_object([(alias, texts[i]) for alias, texts in rows.items()], 2) for i in range(batch)]
    return document("predictions", "[" + ",".join("\n        " + o for o in objects) + "\n    ]")
