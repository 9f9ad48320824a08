"""tf.Example plumbing for Classify / Regress: request `Input` -> serialized examples, outputs -> results.

The result checks follow TF Serving's classifier.cc / regressor.cc (PostProcess*Result) with their
texts; `serialized_examples` follows util.cc InputToSerializedExampleTensor (context bytes prepended to
each example, so proto merge semantics apply).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.dtypes import dtype_enum_name
from serving.status import InvalidArgument
from serving.types import SignatureInfo


def serialized_examples(input_proto: Any) -> list[bytes]:
    """A tensorflow.serving.Input (example_list or example_list_with_context) as serialized examples."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [ex.SerializeToString() for ex in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + ex.SerializeToString() for ex in with_context.examples]
    return []


def _shape_text(arr: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in arr.shape) + "]"


def _check_matrix(arr: np.ndarray, what: str, dtype: str, num_examples: int) -> None:
    if arr.ndim != 2:
        raise InvalidArgument(f"Expected Tensor shape: [batch_size num_classes] but got {_shape_text(arr)}")
    got = dtype_enum_name(arr)
    if got != dtype:
        raise InvalidArgument(f"Expected {what} Tensor of {dtype}. Got: {got}")
    if arr.shape[0] != num_examples:
        raise InvalidArgument(f"Expected {what} output batch size of {num_examples}. Got: {arr.shape[0]}")


def classification_results(
    info: SignatureInfo, outputs: dict[str, np.ndarray], num_examples: int
) -> list[list[tuple[bytes, float]]]:
    """Per example: (label, score) per class; label b"" without `classes`, score 0 without `scores`."""
    classes = outputs.get("classes") if "classes" in info.outputs else None
    scores = outputs.get("scores") if "scores" in info.outputs else None
    if classes is not None:
        _check_matrix(classes, "classes", "DT_STRING", num_examples)
    if scores is not None:
        _check_matrix(scores, "scores", "DT_FLOAT", num_examples)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(
            "Tensors class and score should match in dim_size(1). "
            f"Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    reference = classes if classes is not None else scores
    num_classes = 0 if reference is None else reference.shape[1]
    results: list[list[tuple[bytes, float]]] = []
    for i in range(num_examples):
        row: list[tuple[bytes, float]] = []
        for c in range(num_classes):
            label = bytes(classes[i, c]) if classes is not None else b""
            score = float(scores[i, c]) if scores is not None else 0.0
            row.append((label, score))
        results.append(row)
    return results


def regression_results(outputs: dict[str, np.ndarray], num_examples: int) -> list[float]:
    """`outputs` must be DT_FLOAT of shape [batch] or [batch, 1]."""
    out = outputs["outputs"]
    if not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{_shape_text(out)}"
        )
    if out.shape[0] != num_examples:
        raise InvalidArgument(
            f"Input batch size did not match output batch size: {num_examples} vs. {out.shape[0]}"
        )
    got = dtype_enum_name(out)
    if got != "DT_FLOAT":
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {got}")
    return [float(v) for v in out.reshape(-1)]
