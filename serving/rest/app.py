"""`create_app(dataplane, settings)`: the bare ASGI app tensorflow_model_server's REST port serves.

Every request lands in one endpoint that mirrors upstream's evhttp server (http_server.cc):
- the Prometheus path (when the monitoring config enables it) is matched on the path alone and gets
  text/plain metrics; with a query string it is upstream's 400 `Unexpected path: ... Should be ...`;
- any other request whose path and query do not match `(?i)/v1/.*` gets the HTML 404 libevent sends;
- everything else runs inside `DataPlane.serve` (one place for metrics and the catch-all INTERNAL):
  `OPTIONS` is a CORS preflight (an Origin matching `https?://` somewhere, else FAILED_PRECONDITION
  with an empty body), other methods go through the path grammar in `serving.rest.routes`.
Responses are `application/json`, errors `{"error": "<message>"}` with the status from
serving.status. Bodies may be gzip-encoded and are capped (a clear 400, never a crash). CORS headers
are added only with `--rest_api_enable_cors_support`.

The app is plain ASGI, served by uvicorn directly: no framework router or middleware stack sits between
the HTTP parser and the DataPlane (issue 12: that stack cost ~0.1 ms per request and did nothing the
single endpoint does not do itself).
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.dataplane import DataPlane
from serving.rest.jsonio import error_body
from serving.rest.routes import V1_PATH, RestHandlers, VersionOverflow, route
from serving.settings import ServerSettings
from serving.status import FailedPrecondition, InvalidArgument, ServingError, Unavailable
from serving.types import CallContext

# Upstream inflates gzip bodies up to 100 MB; the same cap applies to plain bodies here.
MAX_BODY_BYTES = 100 * 1024 * 1024
JSON = b"application/json"
TEXT = b"text/plain"
HTML = b"text/html"
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET"),
    (b"access-control-allow-headers", b"Content-Type"),
]
_ORIGIN = re.compile(r"https?://")  # RE2::PartialMatch in http_server.cc (case-sensitive)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_NOT_FOUND = (
    b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
)


def _too_large(limit: int) -> InvalidArgument:
    return InvalidArgument(f"Request body is larger than the maximum of {limit} bytes")


def _header(scope: Scope, name: bytes) -> str:
    """A request header (ASGI servers lower-case names); "" when absent."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, gunzipped when Content-Encoding says gzip; InvalidArgument past `limit`."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidArgument("Client disconnected while sending the request body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if "gzip" not in _header(scope, b"content-encoding").lower():
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise InvalidArgument(f"Failed to decompress gzip request body: {err}") from None
    if len(out) > limit:
        raise _too_large(limit)
    return out


class PreflightRefused(FailedPrecondition):
    """A CORS preflight without an http(s) Origin: 400 with an empty body, as upstream."""


class RestApp:
    """The REST server's ASGI app over one DataPlane: dispatch, error bodies, CORS, metrics page."""

    def __init__(self, dataplane: DataPlane, settings: ServerSettings) -> None:
        self.dataplane = dataplane
        self.handlers = RestHandlers(dataplane)
        self.timeout_s = settings.rest_timeout_seconds
        self.metrics_path = settings.monitoring.path if settings.monitoring.enabled else None
        self._extra = CORS_HEADERS if settings.rest_api_enable_cors_support else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Raw ASGI entry (every HTTP method reaches the dispatcher, as upstream)."""
        if scope["type"] != "http":  # lifespan is off; websockets are not part of the API
            return
        status, content_type, body = await self.respond(scope, receive)
        headers = [(b"content-length", b"%d" % len(body)), *self._extra]
        if content_type:
            headers.insert(0, (b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def respond(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        """(status, content type, body) for one request."""
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        uri = f"{path}?{query}" if query else path  # evhttp's uri_path(): path and query
        method = scope["method"]
        if self.metrics_path is not None and path == self.metrics_path:
            if uri != path:
                return 400, TEXT, f"Unexpected path: {uri}. Should be {path}".encode()
            return 200, TEXT, self.dataplane.render_metrics()
        if not V1_PATH.fullmatch(uri):
            return 404, HTML, _NOT_FOUND
        deadline = time.monotonic() + self.timeout_s if self.timeout_s > 0 else None
        ctx = CallContext("REST", deadline=deadline)
        try:
            if method == "OPTIONS":
                await self.dataplane.serve(ctx, lambda c: self._preflight(scope))
                return 200, b"", b""
            return (
                200,
                JSON,
                await self.dataplane.serve(ctx, lambda c: self._api(scope, receive, method, uri, c)),
            )
        except PreflightRefused as err:
            return err.http_status, b"", b""
        except VersionOverflow as err:
            return err.http_status, JSON, b""
        except ServingError as err:
            return err.http_status, JSON, error_body(err.message)
        except asyncio.CancelledError:  # shutdown's drain time ran out: 503, as gRPC's UNAVAILABLE then
            return Unavailable("").http_status, JSON, error_body("Cancelling all calls")

    async def _preflight(self, scope: Scope) -> None:
        if not _ORIGIN.search(_header(scope, b"origin")):
            raise PreflightRefused("Origin header is missing in CORS preflight")

    async def _api(self, scope: Scope, receive: Receive, method: str, uri: str, ctx: CallContext) -> bytes:
        target = route(method, uri)
        ctx.model, ctx.api = target.name, target.api
        body = await read_body(scope, receive) if method == "POST" else b""
        return await self.handlers.handle(method, uri, target, body, ctx)


def create_app(dataplane: DataPlane, settings: ServerSettings) -> RestApp:
    """The REST API over `dataplane` as a bare ASGI app (upstream's grammar inside)."""
    return RestApp(dataplane, settings)
