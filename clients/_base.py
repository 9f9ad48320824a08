"""What both clients share beyond the wire: timeouts, retries, the signature cache, waiting for a model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np

from clients._request import NUMPY_DTYPES
from clients._types import USE_CLIENT_DEFAULT, Metadata, Timeout, resolve_timeout
from clients.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServingError,
    Unavailable,
)
from clients.retry import RetryPolicy, call_with_retry
from serving.types import DEFAULT_SIGNATURE, SignatureInfo, State, VersionStatus

T = TypeVar("T")
SpecKey = tuple[str, int | None, str | None]


def apply_output_filter(
    outputs: dict[str, np.ndarray], output_filter: Sequence[str] | None
) -> dict[str, np.ndarray]:
    """Keep the listed aliases (REST has no output_filter on the wire; texts as TF Serving's gRPC)."""
    if not output_filter:
        return outputs
    seen: set[str] = set()
    for alias in output_filter:
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
        if alias not in outputs:
            expected = ",".join(sorted(outputs))
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{expected}}}."
            )
    return {alias: outputs[alias] for alias in output_filter}


class ClientBase:
    """Client default timeout, retry policy, cached signatures and `wait_until_available`."""

    def __init__(self, timeout: float | None, retry: RetryPolicy) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {timeout}")
        self.timeout = timeout
        self.retry = retry
        self._signatures: dict[SpecKey, Metadata] = {}
        self._lock = threading.Lock()

    def _resolve(self, timeout: Timeout) -> float | None:
        value = resolve_timeout(timeout, self.timeout)
        if value is not None and value <= 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {value}")
        return value

    def _retrying(self, attempt: Callable[[float | None], T], timeout: float | None) -> T:
        return call_with_retry(attempt, self.retry, timeout)

    def metadata(
        self,
        model: str,
        version: int | None = None,
        *,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Metadata:
        raise NotImplementedError

    def status(
        self, model: str, version: int | None = None, *, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> list[VersionStatus]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def signature(
        self,
        model: str,
        version: int | None,
        label: str | None,
        signature: str | None,
        timeout: float | None,
    ) -> SignatureInfo:
        """The SignatureDef a call will use, from cached metadata (fetched once per model/version/label)."""
        key: SpecKey = (model, version, label)
        with self._lock:
            meta = self._signatures.get(key)
        if meta is None:
            meta = self.metadata(model, version, label=label, timeout=timeout)
            with self._lock:
                self._signatures[key] = meta
        name = signature or DEFAULT_SIGNATURE
        found = meta.signatures.get(name)
        if found is None:  # the gRPC server's text for a Predict naming a missing signature
            raise FailedPrecondition(f'Serving signature key "{name}" not found.')
        return found

    def _known_signature(
        self, model: str, version: int | None, label: str | None, signature: str | None, timeout: float | None
    ) -> SignatureInfo | None:
        try:
            return self.signature(model, version, label, signature, timeout)
        except ServingError:
            return None

    def forget_signatures(self) -> None:
        """Drop cached signatures (after a model's new version changed them)."""
        with self._lock:
            self._signatures.clear()

    def wait_until_available(self, model: str, timeout: float = 60.0) -> list[VersionStatus]:
        """Poll status until a version of `model` is AVAILABLE; return the statuses. Raises
        DeadlineExceeded naming the last state seen when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        delay, last = 0.05, "no answer yet"
        while True:
            remaining = deadline - time.monotonic()
            try:
                versions = self.status(model, timeout=max(min(remaining, 5.0), 0.05))
                if any(v.state == State.AVAILABLE for v in versions):
                    return versions
                last = ", ".join(f"version {v.version} {v.state.name}" for v in versions) or "no versions"
            except (NotFound, Unavailable, DeadlineExceeded) as error:
                last = f"{type(error).__name__}: {error.message}"
            if time.monotonic() + delay >= deadline:
                raise DeadlineExceeded(f"model {model!r} has no AVAILABLE version after {timeout}s ({last})")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def input_dtypes(signature: SignatureInfo | None) -> Mapping[str, np.dtype[Any]] | None:
    if signature is None:
        return None
    return {a: NUMPY_DTYPES[t.dtype] for a, t in signature.inputs.items() if t.dtype in NUMPY_DTYPES}
