"""Values and type names shared by both clients (no I/O, no TensorFlow, no grpc)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias

import numpy as np

from serving.types import SignatureInfo, TensorInfo, VersionStatus


class UseClientDefault(enum.Enum):
    """Sentinel type: `timeout=USE_CLIENT_DEFAULT` (the default) means the client's own timeout;
    `timeout=None` means no timeout at all."""

    TOKEN = "USE_CLIENT_DEFAULT"

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT = UseClientDefault.TOKEN

Timeout: TypeAlias = float | UseClientDefault | None

# One input: a numpy array, a (nested) list, or a scalar; bytes/str values make a DT_STRING tensor.
InputValue: TypeAlias = np.ndarray | Sequence[Any] | float | int | bool | bytes | str
# Either one value (single-input signatures) or alias -> value.
Inputs: TypeAlias = Mapping[str, InputValue] | InputValue
# One tf.train.Example as a dict: floats -> float_list, ints/bools -> int64_list, bytes/str -> bytes_list.
FeatureValue: TypeAlias = float | int | bool | bytes | str | Sequence[Any] | np.ndarray
Example: TypeAlias = Mapping[str, FeatureValue]
# classify(): one list of (label, score) per example, in request order.
Classifications: TypeAlias = list[list[tuple[str, float]]]


def resolve_timeout(timeout: Timeout, default: float | None) -> float | None:
    return default if isinstance(timeout, UseClientDefault) else timeout


@dataclass(frozen=True)
class Metadata:
    """GetModelMetadata, transport-neutral: the served version and its SignatureDefs by key."""

    model: str
    version: int
    signatures: dict[str, SignatureInfo]

    def to_json(self) -> dict[str, Any]:
        def tensors(infos: Mapping[str, TensorInfo]) -> dict[str, Any]:
            return {
                alias: {"name": t.name, "dtype": t.dtype, "shape": None if t.shape is None else list(t.shape)}
                for alias, t in infos.items()
            }

        return {
            "model": self.model,
            "version": self.version,
            "signatures": {
                key: {
                    "method_name": sig.method_name,
                    "inputs": tensors(sig.inputs),
                    "outputs": tensors(sig.outputs),
                }
                for key, sig in self.signatures.items()
            },
        }


def status_to_json(versions: Sequence[VersionStatus]) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "state": v.state.name,
            "error_code": v.error_code.name,
            "error_message": v.error_message,
        }
        for v in versions
    ]


class Client(Protocol):
    """The one API both `RestClient` and `GrpcClient` implement."""

    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> dict[str, np.ndarray]: ...

    def classify(
        self,
        model: str,
        examples: Sequence[Example],
        *,
        context: Example | None = None,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Classifications: ...

    def regress(
        self,
        model: str,
        examples: Sequence[Example],
        *,
        context: Example | None = None,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> np.ndarray: ...

    def metadata(
        self,
        model: str,
        version: int | None = None,
        *,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Metadata: ...

    def status(
        self, model: str, version: int | None = None, *, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> list[VersionStatus]: ...

    def wait_until_available(self, model: str, timeout: float = 60.0) -> list[VersionStatus]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
