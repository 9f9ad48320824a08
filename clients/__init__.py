"""Python clients for TF Serving's REST and gRPC APIs (and `tfkit serve`): one API, one error tree.

    from clients import RestClient, GrpcClient, NotFound
    client = RestClient("http://localhost:8501")      # or GrpcClient("localhost:8500")
    client.predict("linear", {"x": [[1.0]]})          # {"y": array([[1.5]], dtype=float32)}

Names load lazily: `import clients` loads neither requests nor grpc until a client is named. Neither
client imports TensorFlow: `GrpcClient` builds TF Serving's messages from `clients.protos`, so the
`tfkit-client` distribution (clients/pyproject.toml) needs only grpcio, protobuf, numpy, requests, orjson.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients._types import USE_CLIENT_DEFAULT, Client, Metadata
    from clients.errors import (
        ConnectionFailed,
        DeadlineExceeded,
        FailedPrecondition,
        Internal,
        InvalidArgument,
        NotFound,
        ResourceExhausted,
        ServingError,
        Unavailable,
        Unimplemented,
    )
    from clients.grpc import GrpcClient
    from clients.rest import RestClient
    from clients.retry import NO_RETRY, RetryPolicy

_WHERE: dict[str, str] = {
    "Client": "clients._types",
    "ConnectionFailed": "clients.errors",
    "DeadlineExceeded": "clients.errors",
    "FailedPrecondition": "clients.errors",
    "GrpcClient": "clients.grpc",
    "Internal": "clients.errors",
    "InvalidArgument": "clients.errors",
    "Metadata": "clients._types",
    "NO_RETRY": "clients.retry",
    "NotFound": "clients.errors",
    "ResourceExhausted": "clients.errors",
    "RestClient": "clients.rest",
    "RetryPolicy": "clients.retry",
    "ServingError": "clients.errors",
    "USE_CLIENT_DEFAULT": "clients._types",
    "Unavailable": "clients.errors",
    "Unimplemented": "clients.errors",
}

__all__ = [
    "NO_RETRY",
    "USE_CLIENT_DEFAULT",
    "Client",
    "ConnectionFailed",
    "DeadlineExceeded",
    "FailedPrecondition",
    "GrpcClient",
    "Internal",
    "InvalidArgument",
    "Metadata",
    "NotFound",
    "ResourceExhausted",
    "RestClient",
    "RetryPolicy",
    "ServingError",
    "Unavailable",
    "Unimplemented",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'clients' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
