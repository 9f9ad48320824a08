"""TF Serving's REST path grammar and the handlers behind it (http_rest_api_handler.cc, contract §1.1).

One regex per method, matched against the raw (still %-encoded) path like upstream; captured names and
labels are then URL-decoded. Everything that does not match under `/v1/` is `Malformed request`.
Handlers turn JSON into protocol-neutral requests, call the shared DataPlane and render the result; every
error is a `ServingError` whose code picks the HTTP status from the one table in serving.status.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

from serving.dataplane import DataPlane
from serving.rest.codec import RequestFormat, parse_request_body, predict_inputs, predict_response
from serving.rest.documents import metadata_response, status_response
from serving.rest.examples import classify_response, examples_from_request, regress_response
from serving.rest.openapi import PATH as OPENAPI_PATH
from serving.rest.openapi import document_bytes as openapi_document
from serving.status import InvalidArgument
from serving.types import CallContext, ExamplesRequest, ModelSpec, PredictRequest

POST_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
GET_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?"
)
V1_PATH = re.compile(r"(?i)/v1/.*", re.DOTALL)
_INT64_MAX = 2**63 - 1
# Request bodies above this size are converted off the event loop (a thread), keeping small requests
# and health probes responsive while a large JSON document is parsed.
OFFLOAD_BYTES = 256 * 1024
T = TypeVar("T")


class VersionOverflow(Exception):
    """`Failed to convert version: <s> to numeric.`: upstream answers 400 with an empty body."""


@dataclass(frozen=True)
class Target:
    """What a matched path names."""

    api: str  # predict | classify | regress | metadata | status | malformed
    spec: ModelSpec


def _version(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text)
    if value > _INT64_MAX:
        raise VersionOverflow(f"Failed to convert version: {text} to numeric.")
    return value


def _spec(name: str | None, version: str | None, label: str | None, signature: str = "") -> ModelSpec:
    return ModelSpec(
        name=unquote(name or ""),
        version=_version(version),
        label=unquote(label) if label else None,
        signature_name=signature,
    )


def route(method: str, path: str) -> Target:
    """Match `path` (raw, undecoded) for `method` against the POST and GET grammars."""
    if method == "POST":
        m = POST_PATH.fullmatch(path)
        if m is not None and m.group(4) in ("predict", "classify", "regress"):
            return Target(m.group(4), _spec(m.group(1), m.group(2), m.group(3)))
    elif method == "GET":
        if path == OPENAPI_PATH:  # the kit's OpenAPI document (serving/rest/openapi.py)
            return Target("openapi", ModelSpec(name=""))
        m = GET_PATH.fullmatch(path)
        if m is not None:
            api = "metadata" if m.group(4) == "metadata" else "status"
            return Target(api, _spec(m.group(1), m.group(2), m.group(3)))
    return Target("malformed", ModelSpec(name=""))


class RestHandlers:
    """The REST API over one DataPlane; `timeout_s` is `--rest_api_timeout_in_ms` (0 = no deadline)."""

    def __init__(self, dataplane: DataPlane, timeout_s: float) -> None:
        self._dataplane = dataplane
        self._timeout_s = timeout_s

    def _context(self) -> CallContext:
        deadline = time.monotonic() + self._timeout_s if self._timeout_s > 0 else None
        return CallContext("REST", deadline)

    async def handle(self, method: str, path: str, body: bytes, target: Target) -> bytes:
        """Run the API `target` names; raises ServingError (or VersionOverflow) on failure."""
        spec = target.spec
        if target.api == "malformed":
            raise InvalidArgument(f"Malformed request: {method} {path}")
        if target.api == "openapi":
            return openapi_document()
        if not spec.name:
            raise InvalidArgument("Missing model name in request.")
        if target.api == "status":
            return status_response(self._dataplane.status(spec))
        if target.api == "metadata":
            return metadata_response(self._dataplane.metadata(spec, ["signature_def"]))
        large = len(body) > OFFLOAD_BYTES
        if target.api == "predict":
            spec, inputs, fmt = await _offload(large, self._predict_inputs, body, spec)
            predicted = await self._dataplane.predict(PredictRequest(spec, inputs), self._context())
            return await _offload(large, predict_response, predicted.outputs, fmt)
        examples = await _offload(large, _examples_request, body, spec)
        if target.api == "classify":
            classified = await self._dataplane.classify(examples, self._context())
            return classify_response(classified.classifications)
        regressed = await self._dataplane.regress(examples, self._context())
        return regress_response(regressed.values)

    def _predict_inputs(
        self, body: bytes, spec: ModelSpec
    ) -> tuple[ModelSpec, dict[str, Any], RequestFormat]:
        """Steps 1-4 of REST predict: parse, signature_name, resolve + signature lookup, tensors."""
        request = parse_request_body(body)
        spec = ModelSpec(spec.name, spec.version, spec.label, request.signature_name)
        _, signature = self._dataplane.resolve(spec)
        inputs, fmt = predict_inputs(request, signature)
        return spec, inputs, fmt


def _examples_request(body: bytes, spec: ModelSpec) -> ExamplesRequest:
    request = parse_request_body(body)
    spec = ModelSpec(spec.name, spec.version, spec.label, request.signature_name)
    return ExamplesRequest(spec, examples_from_request(request))


async def _offload(large: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy JSON work for large bodies in a thread so the event loop keeps serving others."""
    return await asyncio.to_thread(fn, *args) if large else fn(*args)
