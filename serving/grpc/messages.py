"""TF Serving request protobufs -> protocol-neutral values, shared by the gRPC servicer and warmup replay
(a warmup record holds the very PredictRequest / ClassificationRequest / ... a client would send)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorflow_serving.apis import model_pb2

from serving.grpc.codec import TensorParseError, numpy_from_tensor_proto
from serving.status import InvalidArgument
from serving.types import ModelSpec, Tensors


def spec_from_proto(request: Any) -> ModelSpec:
    """ModelSpec of a request (version wrapper or version_label; `Missing ModelSpec` when absent)."""
    if not request.HasField("model_spec"):
        raise InvalidArgument("Missing ModelSpec")
    return spec_from_model_spec(request.model_spec)


def spec_from_model_spec(ms: model_pb2.ModelSpec) -> ModelSpec:
    choice = ms.WhichOneof("version_choice")
    return ModelSpec(
        name=ms.name,
        version=int(ms.version.value) if choice == "version" else None,
        label=ms.version_label if choice == "version_label" else None,
        signature_name=ms.signature_name,
    )


def tensors_from_protos(protos: Mapping[str, Any]) -> Tensors:
    """PredictRequest.inputs as numpy (the kit's one TensorProto decoder); INVALID_ARGUMENT
    `tensor parsing error: <alias>` for a tensor that does not parse (predict_util.cc)."""
    inputs: Tensors = {}
    for alias, proto in protos.items():
        try:
            inputs[alias] = numpy_from_tensor_proto(proto)
        except TensorParseError:
            raise InvalidArgument(f"tensor parsing error: {alias}") from None
    return inputs
