"""Protocol-neutral request and response values shared by the server core and both adapters.

The REST adapter (JSON) and the gRPC adapter (protobuf) each turn their wire format into these values,
call the core (`serving.dataplane.DataPlane`), and turn the result back. Tensors are numpy arrays
(bytes tensors are numpy object arrays of `bytes`). Nothing here imports TensorFlow, grpc, protobuf or a
web framework.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from serving.status import Code

DEFAULT_SIGNATURE = "serving_default"

Entrypoint = Literal["REST", "GRPC"]


@dataclass(frozen=True)
class ModelSpec:
    """What a request names: a model, optionally one version or one label, and a signature.

    `signature_name == ""` means `serving_default`. `version` and `label` are mutually exclusive.
    """

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""


@dataclass(frozen=True)
class ResolvedSpec:
    """The effective spec the core served: concrete version and signature name (echoed in responses)."""

    name: str
    version: int
    signature_name: str = DEFAULT_SIGNATURE


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output. dtype is TF's enum name ("DT_FLOAT"); shape None = unknown rank;
    -1 marks an unknown dimension."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


@dataclass
class CallContext:
    """One call as the core records it: transport, API label (`predict`, `Predict`, "" for REST GET),
    the model name the request names (set by the adapter once parsed) and a monotonic deadline."""

    entrypoint: Entrypoint
    api: str = ""
    model: str = ""
    deadline: float | None = None


Tensors = dict[str, np.ndarray]
# Decodes request inputs against the signature of the servable that will run them (REST JSON needs the
# signature's dtypes); awaitable so an adapter may decode a large body off the event loop.
InputDecoder = Callable[[SignatureInfo], Awaitable[Tensors]]


@dataclass
class PredictRequest:
    """`inputs` already typed (gRPC), or `decode` to type them against the resolved signature (REST)."""

    spec: ModelSpec
    inputs: Tensors = field(default_factory=dict)
    output_filter: tuple[str, ...] = ()
    decode: InputDecoder | None = None


@dataclass
class PredictResponse:
    spec: ResolvedSpec
    outputs: dict[str, np.ndarray]


@dataclass
class ExamplesRequest:
    """Classify / Regress input: serialized tf.train.Example records (context already merged in)."""

    spec: ModelSpec
    examples: list[bytes]


@dataclass
class ClassifyResponse:
    """One list of (label, score) per example, in request order."""

    spec: ResolvedSpec
    classifications: list[list[tuple[bytes, float]]]


@dataclass
class RegressResponse:
    spec: ResolvedSpec
    values: list[float]


@dataclass(frozen=True)
class InferenceTask:
    spec: ModelSpec
    method_name: str  # "tensorflow/serving/classify" or "tensorflow/serving/regress"


@dataclass
class MultiInferenceRequest:
    tasks: list[InferenceTask]
    examples: list[bytes]


@dataclass
class MultiInferenceResponse:
    results: list[ClassifyResponse | RegressResponse]


@dataclass
class ModelMetadata:
    """`signature_def_map` is a serialized tensorflow.serving.SignatureDefMap (adapters render it)."""

    spec: ResolvedSpec
    signature_def_map: bytes


class State(enum.IntEnum):
    """ModelVersionStatus.State (apis/get_model_status.proto)."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass(frozen=True)
class VersionStatus:
    version: int
    state: State
    error_code: Code = Code.OK
    error_message: str = ""


@dataclass(frozen=True)
class VersionPolicy:
    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ModelServerConfig.model_config_list (config/model_server_config.proto)."""

    name: str
    base_path: str
    platform: str = "tensorflow"
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    version_labels: dict[str, int] = field(default_factory=dict)
