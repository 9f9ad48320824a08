"""`create_app(core)`: the Starlette app tensorflow_model_server's REST port serves.

Every request lands in one endpoint that mirrors upstream's dispatcher: the Prometheus path (when the
monitoring config enables it) gets text/plain metrics; any other path outside `(?i)/v1/.*` gets the
HTML 404 libevent sends; `OPTIONS` under /v1 is a CORS preflight; everything else goes through the path
grammar in `serving.rest.routes`. Responses are `application/json`, errors `{"error": "<message>"}`
with the status from serving.status. Bodies may be gzip-encoded and are capped (a clear 400, never a
crash). CORS headers are added only with `--rest_api_enable_cors_support`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from serving.core import Core
from serving.rest.jsonio import error_body
from serving.rest.routes import V1_PATH, RestHandlers, VersionOverflow, route
from serving.status import Code, InvalidArgument, ServingError, http_status

log = logging.getLogger(__name__)

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
_ORIGIN = re.compile(r"https?://.*", re.IGNORECASE)
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


class RestApp:
    """The REST server's ASGI app over one core: dispatch, error bodies, CORS, metrics page."""

    def __init__(self, core: Core) -> None:
        settings = core.settings
        self.handlers = RestHandlers(core.dataplane, settings.rest_timeout_seconds)
        self.metrics = core.metrics
        self.metrics_path = settings.monitoring.path if settings.monitoring.enabled else None
        self._extra = CORS_HEADERS if settings.rest_api_enable_cors_support else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Raw ASGI entry (every HTTP method reaches the dispatcher, as upstream)."""
        status, content_type, body = await self.respond(scope, receive)
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *self._extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def respond(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        """(status, content type, body) for one request."""
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        method = scope["method"]
        if self.metrics_path is not None and path == self.metrics_path:
            return 200, TEXT, self.metrics.render()
        if not V1_PATH.fullmatch(path):
            return 404, HTML, _NOT_FOUND
        if method == "OPTIONS":
            return (200 if _ORIGIN.match(_header(scope, b"origin")) else 400), JSON, b""
        return await self._api(scope, receive, method, path)

    async def _api(self, scope: Scope, receive: Receive, method: str, path: str) -> tuple[int, bytes, bytes]:
        start = time.perf_counter()
        model, api, code = "", "malformed", Code.OK
        try:
            target = route(method, path)
            model, api = target.spec.name, target.api
            body = await read_body(scope, receive) if method == "POST" else b""
            reply = 200, JSON, await self.handlers.handle(method, path, body, target)
        except VersionOverflow:
            code = Code.INVALID_ARGUMENT
            reply = http_status(code), JSON, b""
        except ServingError as err:
            code = err.code
            reply = err.http_status, JSON, error_body(err.message)
        except asyncio.CancelledError:  # shutdown's drain time ran out: 503, as gRPC's UNAVAILABLE then
            code = Code.UNAVAILABLE
            reply = http_status(code), JSON, error_body("Cancelling all calls")
        except RecursionError:
            code = Code.INVALID_ARGUMENT
            reply = http_status(code), JSON, error_body("JSON document nested too deeply")
        except Exception as err:  # a bug must not take the server down: 500 and a log line
            log.exception("Internal error serving %s %s", method, path)
            code = Code.INTERNAL
            reply = http_status(code), JSON, error_body(f"Internal error: {err}")
        self.metrics.observe_request(model, api, "REST", code.name, time.perf_counter() - start)
        return reply


def create_app(core: Core) -> Starlette:
    """The REST API of `core` as an ASGI app (one catch-all route; upstream's grammar inside)."""
    return Starlette(routes=[Route("/{path:path}", RestApp(core))])
