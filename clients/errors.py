"""The errors both clients raise: the kit's one hierarchy (`serving.status`), re-exported.

A REST client builds them from the HTTP status (`ServingError.from_http`), a gRPC client from the status
code (`ServingError.from_code`); both carry the server's message unchanged, so
`except NotFound as e: print(e.message)` reads the same over either transport. Client-side only:
`ConnectionFailed` (the server could not be reached; an `Unavailable`, so it is retried like a 503).

    ServingError
    ├── InvalidArgument      (400 / INVALID_ARGUMENT)
    ├── FailedPrecondition   (400 / FAILED_PRECONDITION)
    ├── NotFound             (404 / NOT_FOUND)
    ├── DeadlineExceeded     (504 / DEADLINE_EXCEEDED; also a client-side timeout)
    ├── ResourceExhausted    (429 / RESOURCE_EXHAUSTED; e.g. a gRPC message over the size limit)
    ├── Unimplemented        (501 / UNIMPLEMENTED)
    ├── Internal / Unknown / DataLoss   (500)
    ├── Unavailable          (503 / UNAVAILABLE; retried)
    │   └── ConnectionFailed (no connection; retried)
    └── Cancelled, AlreadyExists, Aborted, OutOfRange, PermissionDenied, Unauthenticated
"""

from __future__ import annotations

from serving.status import (
    Aborted,
    AlreadyExists,
    Cancelled,
    Code,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    ServingError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)


class ConnectionFailed(Unavailable):
    """The server could not be reached (refused, reset, DNS, connect timeout). Retried like UNAVAILABLE."""


__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "Code",
    "ConnectionFailed",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "ServingError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
]
