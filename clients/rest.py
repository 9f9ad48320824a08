"""`RestClient`: TF Serving's REST API over one pooled `requests.Session` (no TensorFlow, no grpc).

    with RestClient("http://localhost:8501") as client:
        y = client.predict("linear", {"x": [[1.0], [2.0]]})["y"]          # float32 array, shape (2, 1)
        client.classify("ctr", [{"feature": vec.tobytes(), "user_id": 3, "article_id": 9}])

Body format: see `clients._request.choose_format` (row `instances` for a batch of rows, columnar `inputs`
for scalars, unequal batch sizes or an empty batch), or force one with `request_format=`. Bytes go out
as `{"b64": ...}`. Output dtypes come from the signature (metadata is fetched once per model/version/label
and cached), so float32 outputs stay float32 and DT_STRING outputs come back as bytes. REST has no
output_filter: the client applies it (with gRPC's error texts). Errors: `clients.errors`, built from the
HTTP status and the server's `{"error": ...}` message in `_send`, the one mapping boundary.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

import numpy as np
import requests
from requests.adapters import HTTPAdapter

from clients import _json
from clients._base import ClientBase, apply_output_filter
from clients._request import check_examples, check_spec, choose_format, named_arrays
from clients._types import USE_CLIENT_DEFAULT, Classifications, Example, Inputs, Metadata, Timeout
from clients.errors import ConnectionFailed, DeadlineExceeded, Internal, ServingError, Unknown
from clients.retry import RetryPolicy
from serving.types import VersionStatus

RequestFormat = Literal["auto", "row", "columnar"]
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_GZIP_HEADERS = {**_JSON_HEADERS, "Content-Encoding": "gzip"}


def model_path(model: str, version: int | None = None, label: str | None = None) -> str:
    """`/v1/models/<name>[/versions/<N> | /labels/<L>]`, name and label URL-encoded."""
    path = f"/v1/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{version}"
    elif label is not None:
        path += f"/labels/{quote(label, safe='')}"
    return path


def _timed_out(error: BaseException) -> bool:
    """Whether a TimeoutError sits anywhere in the exception's chain (or its first argument)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError):
            return True
        todo += [
            e for e in (current.__cause__, current.__context__, *current.args) if isinstance(e, BaseException)
        ]
    return False


class RestClient(ClientBase):
    """TF Serving REST client. `timeout` (seconds, None = none) is the default per call; every call may
    pass its own. `retry` governs retries of connection failures and 503s only. `gzip_min_bytes`: gzip
    request bodies at least this large (TF Serving inflates `Content-Encoding: gzip` bodies; worth it
    on slow networks, not on localhost)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        request_format: RequestFormat = "auto",
        pool_size: int = 16,
        gzip_min_bytes: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(timeout, retry or RetryPolicy())
        if gzip_min_bytes is not None and gzip_min_bytes < 0:
            raise ValueError(f"gzip_min_bytes must be >= 0 or None, got {gzip_min_bytes}")
        self.gzip_min_bytes = gzip_min_bytes
        if request_format not in ("auto", "row", "columnar"):
            raise ValueError(f"request_format must be auto, row or columnar, got {request_format!r}")
        self.url = (url if "://" in url else f"http://{url}").rstrip("/")
        self.request_format: RequestFormat = request_format
        self._owns_session = session is None
        self._session = session or requests.Session()
        if session is None:
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"RestClient({self.url!r}, timeout={self.timeout})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # -- the one mapping boundary: requests/HTTP outcomes -> clients.errors ---------------------------
    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None
    ) -> Any:
        url = self.url + path
        limit = "no limit" if timeout is None else f"{timeout:.3g}s"
        try:
            response = self._session.request(method, url, data=body, headers=headers, timeout=timeout)
        except requests.ConnectTimeout as error:
            raise ConnectionFailed(f"cannot connect to {self.url} within {limit}: {error}") from None
        except requests.Timeout:
            raise DeadlineExceeded(f"no response from {url} within {limit}") from None
        except requests.ConnectionError as error:
            if _timed_out(error):  # the socket timed out while the body was still being sent
                raise DeadlineExceeded(f"sending to {url} did not finish within {limit}") from None
            raise ConnectionFailed(f"cannot reach {self.url}: {error}") from None
        except requests.RequestException as error:
            raise Unknown(f"{method} {url} failed: {error}") from None
        if response.status_code >= 400:
            raise ServingError.from_http(
                response.status_code, _json.error_message(response.status_code, response.content)
            )
        try:
            return _json.loads(response.content)
        except ValueError as error:
            status = response.status_code
            raise Internal(f"{method} {url} answered {status} with invalid JSON: {error}") from None

    def _call(self, method: str, path: str, body: bytes | None, timeout: float | None) -> Any:
        headers = _JSON_HEADERS
        if body is not None and self.gzip_min_bytes is not None and len(body) >= self.gzip_min_bytes:
            body, headers = gzip.compress(body, compresslevel=1), _GZIP_HEADERS
        return self._retrying(lambda remaining: self._send(method, path, body, headers, remaining), timeout)

    # -- the API --------------------------------------------------------------------------------------
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
    ) -> dict[str, np.ndarray]:
        """Run a signature (default `serving_default`); returns output alias -> numpy array."""
        check_spec(model, version, label)
        seconds = self._resolve(timeout)
        arrays, named = named_arrays(inputs)
        fmt = choose_format(arrays) if self.request_format == "auto" else self.request_format
        body = _json.predict_body(arrays, named, fmt, signature)
        response = self._call("POST", model_path(model, version, label) + ":predict", body, seconds)
        info = self._known_signature(model, version, label, signature, seconds)
        outputs = _json.decode_predict(response, fmt, info.outputs if info is not None else None)
        if info is not None and fmt == "columnar" and set(outputs) != set(info.outputs):
            self.forget_signatures()  # a new model version changed the signature: refresh once
            info = self._known_signature(model, version, label, signature, seconds)
            outputs = _json.decode_predict(response, fmt, info.outputs if info is not None else None)
        return apply_output_filter(outputs, output_filter)

    def _examples(
        self,
        verb: str,
        model: str,
        examples: Sequence[Example],
        context: Example | None,
        signature: str | None,
        version: int | None,
        label: str | None,
        timeout: Timeout,
    ) -> Any:
        check_spec(model, version, label)
        check_examples(examples)
        body = _json.examples_body(examples, context, signature)
        return self._call("POST", f"{model_path(model, version, label)}:{verb}", body, self._resolve(timeout))

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
    ) -> Classifications:
        """Classify tf.Examples given as dicts; one list of (label, score) per example."""
        body = self._examples("classify", model, examples, context, signature, version, label, timeout)
        return _json.decode_classify(body)

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
    ) -> np.ndarray:
        """Regress tf.Examples given as dicts; float32 array with one value per example."""
        body = self._examples("regress", model, examples, context, signature, version, label, timeout)
        return _json.decode_regress(body)

    def metadata(
        self,
        model: str,
        version: int | None = None,
        *,
        label: str | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
    ) -> Metadata:
        """SignatureDefs of the served version (latest AVAILABLE unless version/label is given)."""
        check_spec(model, version, label)
        path = model_path(model, version, label) + "/metadata"
        return _json.decode_metadata(self._call("GET", path, None, self._resolve(timeout)))

    def status(
        self, model: str, version: int | None = None, *, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> list[VersionStatus]:
        """Every known version's state (descending), or one version's."""
        check_spec(model, version, None)
        body = self._call("GET", model_path(model, version), None, self._resolve(timeout))
        return _json.decode_status(body)
