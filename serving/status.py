"""One error table for the whole kit: canonical code -> HTTP status, gRPC code, typed exception.

Every error the server raises and every error a client reports is a `ServingError` subclass keyed by a
canonical `Code` (the gRPC / absl status codes, same numbers). The HTTP status comes from the same table
TF Serving uses (`model_servers/http_server.cc` ToHTTPStatusCode); the gRPC status is the code itself.
Nothing here imports grpc, TensorFlow or a web framework: the REST client, the server core and both
adapters share it.

    ServingError
    ├── Cancelled            (CANCELLED, 499)
    ├── Unknown              (UNKNOWN, 500)
    ├── InvalidArgument      (INVALID_ARGUMENT, 400)
    ├── DeadlineExceeded     (DEADLINE_EXCEEDED, 504)
    ├── NotFound             (NOT_FOUND, 404)
    ├── AlreadyExists        (ALREADY_EXISTS, 409)
    ├── PermissionDenied     (PERMISSION_DENIED, 403)
    ├── ResourceExhausted    (RESOURCE_EXHAUSTED, 429)
    ├── FailedPrecondition   (FAILED_PRECONDITION, 400)
    ├── Aborted              (ABORTED, 409)
    ├── OutOfRange           (OUT_OF_RANGE, 400)
    ├── Unimplemented        (UNIMPLEMENTED, 501)
    ├── Internal             (INTERNAL, 500)
    ├── Unavailable          (UNAVAILABLE, 503)
    ├── DataLoss             (DATA_LOSS, 500)
    └── Unauthenticated      (UNAUTHENTICATED, 401)
"""

from __future__ import annotations

import enum
from typing import ClassVar


class Code(enum.IntEnum):
    """Canonical status codes (gRPC / absl / tensorflow.error.Code share names and numbers)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# The one table: canonical code -> HTTP status (TF Serving http_server.cc; unlisted codes -> 500).
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}

# Reverse direction, for clients reading an HTTP response: where several codes share a status, the
# most common server-side cause wins (400 -> INVALID_ARGUMENT, 409 -> ABORTED, 500 -> INTERNAL).
_CODE_FOR_HTTP: dict[int, Code] = {
    499: Code.CANCELLED,
    400: Code.INVALID_ARGUMENT,
    504: Code.DEADLINE_EXCEEDED,
    404: Code.NOT_FOUND,
    409: Code.ABORTED,
    403: Code.PERMISSION_DENIED,
    429: Code.RESOURCE_EXHAUSTED,
    501: Code.UNIMPLEMENTED,
    500: Code.INTERNAL,
    503: Code.UNAVAILABLE,
    401: Code.UNAUTHENTICATED,
}

# gRPC status messages are truncated like TF Serving's grpc_status_util.cc.
MAX_GRPC_MESSAGE = 1024


def http_status(code: Code) -> int:
    """HTTP status for a canonical code (TF Serving's mapping)."""
    return HTTP_STATUS.get(code, 500)


def code_from_http(status: int) -> Code:
    """Canonical code for an HTTP status seen by a client."""
    if 200 <= status < 300:
        return Code.OK
    return _CODE_FOR_HTTP.get(status, Code.UNKNOWN if status < 500 else Code.INTERNAL)


def truncate_for_grpc(message: str) -> str:
    """TF Serving cuts gRPC status messages at 1024 characters and appends '...TRUNCATED'."""
    if len(message) <= MAX_GRPC_MESSAGE:
        return message
    return message[:MAX_GRPC_MESSAGE] + "...TRUNCATED"


class ServingError(Exception):
    """An error with a canonical code; subclasses fix the code and are found by `from_code`."""

    code: ClassVar[Code] = Code.UNKNOWN
    _by_code: ClassVar[dict[Code, type[ServingError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            ServingError._by_code.setdefault(cls.code, cls)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def http_status(self) -> int:
        return http_status(self.code)

    @staticmethod
    def from_code(code: Code | int, message: str) -> ServingError:
        """Build the typed error for a canonical code (e.g. from a gRPC status or HTTP status)."""
        cls = ServingError._by_code.get(Code(code), Unknown)
        return cls(message)

    @staticmethod
    def from_http(status: int, message: str) -> ServingError:
        return ServingError.from_code(code_from_http(status), message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Cancelled(ServingError):
    code = Code.CANCELLED


class Unknown(ServingError):
    code = Code.UNKNOWN


class InvalidArgument(ServingError):
    code = Code.INVALID_ARGUMENT


class DeadlineExceeded(ServingError):
    code = Code.DEADLINE_EXCEEDED


class NotFound(ServingError):
    code = Code.NOT_FOUND


class AlreadyExists(ServingError):
    code = Code.ALREADY_EXISTS


class PermissionDenied(ServingError):
    code = Code.PERMISSION_DENIED


class ResourceExhausted(ServingError):
    code = Code.RESOURCE_EXHAUSTED


class FailedPrecondition(ServingError):
    code = Code.FAILED_PRECONDITION


class Aborted(ServingError):
    code = Code.ABORTED


class OutOfRange(ServingError):
    code = Code.OUT_OF_RANGE


class Unimplemented(ServingError):
    code = Code.UNIMPLEMENTED


class Internal(ServingError):
    code = Code.INTERNAL


class Unavailable(ServingError):
    code = Code.UNAVAILABLE


class DataLoss(ServingError):
    code = Code.DATA_LOSS


class Unauthenticated(ServingError):
    code = Code.UNAUTHENTICATED
