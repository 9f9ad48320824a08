"""TF Serving's REST path grammar and its handlers (http_rest_api_handler.cc, http_rest_api_util.cc).

The path matched is libevent's `uri_path()`: the raw (still %-encoded) path WITH its `?query`
(evhttp_request.cc `path_and_query`), so `POST /v1/models/m:predict?x=1` is `Malformed request` and
`GET /v1/models/m?x=1` names the model `m?x=1`, exactly as upstream. One regex per method
(`kPredictionApiGegex`, `kModelStatusApiRegex`, case-insensitive); captured names and labels are then
URL-decoded. The verb is used as captured, so `:PREDICT` matches the regex but is `Malformed request`;
a GET subresource other than exactly `metadata` (e.g. `/METADATA`) asks for the model status.

Handlers turn JSON into protocol-neutral requests, call the shared DataPlane and render the result;
every error is a ServingError whose code picks the HTTP status (serving.status).
"""

from __future__ import annotations

import asyncio
import re
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
from serving.types import CallContext, ExamplesRequest, ModelSpec, PredictRequest, SignatureInfo, Tensors

POST_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
GET_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?"
)
V1_PATH = re.compile(r"(?i)/v1/.*")  # the dispatcher's kHTTPRestApiHandlerPathRegex (no DOTALL, as RE2)
_INT64_MAX = 2**63 - 1
# Request bodies above this size are converted off the event loop (a thread), keeping small requests
# and health probes responsive while a large JSON document is parsed.
OFFLOAD_BYTES = 256 * 1024
T = TypeVar("T")


class VersionOverflow(InvalidArgument):
    """`Failed to convert version: <s> to numeric.`: upstream returns it before writing a body."""


@dataclass(frozen=True)
class Target:
    """What a matched path names. `kind`: predict | classify | regress | metadata | status | malformed;
    `api`: the request_latency label (the verb as captured for POST, "" otherwise, as upstream)."""

    kind: str
    name: str = ""
    version: str | None = None
    label: str | None = None
    api: str = ""

    def spec(self, signature: str = "") -> ModelSpec:
        """The ModelSpec (raises VersionOverflow for a version beyond int64, as ParseModelInfo)."""
        version = None
        if self.version:
            version = int(self.version)
            if version > _INT64_MAX:
                raise VersionOverflow(f"Failed to convert version: {self.version} to numeric.")
        return ModelSpec(self.name, version, self.label, signature)


def route(method: str, path: str) -> Target:
    """Match `path` (raw path and query) for `method` against the POST and GET grammars."""
    if method == "POST":
        m = POST_PATH.fullmatch(path)
        if m is not None:
            verb = m.group(4)
            kind = verb if verb in ("predict", "classify", "regress") else "malformed"
            return Target(kind, unquote(m.group(1)), m.group(2), _label(m.group(3)), verb)
    elif method == "GET":
        if path == OPENAPI_PATH:  # the kit's OpenAPI document (serving/rest/openapi.py)
            return Target("openapi")
        m = GET_PATH.fullmatch(path)
        if m is not None:
            kind = "metadata" if m.group(4) == "metadata" else "status"
            return Target(kind, unquote(m.group(1) or ""), m.group(2), _label(m.group(3)))
    return Target("malformed")


def _label(text: str | None) -> str | None:
    return unquote(text) if text else None


class RestHandlers:
    """The REST API over one DataPlane."""

    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane

    async def handle(self, method: str, path: str, target: Target, body: bytes, ctx: CallContext) -> bytes:
        """Run the API `target` names inside DataPlane.serve; raises ServingError on failure."""
        spec = target.spec()
        if target.kind == "malformed":
            raise InvalidArgument(f"Malformed request: {method} {path}")
        if target.kind == "openapi":
            return openapi_document()
        if not spec.name:
            raise InvalidArgument("Missing model name in request.")
        if target.kind == "status":
            return status_response(self._dataplane.status(spec))
        if target.kind == "metadata":
            return metadata_response(self._dataplane.metadata(spec, ["signature_def"]))
        try:
            return await self._infer(target.kind, spec, body, ctx)
        except RecursionError:
            raise InvalidArgument("JSON document nested too deeply") from None

    async def _infer(self, kind: str, spec: ModelSpec, body: bytes, ctx: CallContext) -> bytes:
        large = len(body) > OFFLOAD_BYTES
        request = await _offload(large, parse_request_body, body)
        spec = ModelSpec(spec.name, spec.version, spec.label, request.signature_name)
        if kind == "predict":
            formats: list[RequestFormat] = []

            async def decode(signature: SignatureInfo) -> Tensors:
                inputs, fmt = await _offload(large, predict_inputs, request, signature)
                formats.append(fmt)
                return inputs

            predicted = await self._dataplane.predict(PredictRequest(spec, decode=decode), ctx)
            return await _offload(large, predict_response, predicted.outputs, formats[0])
        examples = ExamplesRequest(spec, await _offload(large, examples_from_request, request))
        if kind == "classify":
            classified = await self._dataplane.classify(examples, ctx)
            return classify_response(classified.classifications)
        regressed = await self._dataplane.regress(examples, ctx)
        return regress_response(regressed.values)


async def _offload(large: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy JSON work for large bodies in a thread so the event loop keeps serving others."""
    return await asyncio.to_thread(fn, *args) if large else fn(*args)
