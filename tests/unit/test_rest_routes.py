"""serving.rest.routes: the REST URL grammar of http_rest_api_util.cc (ParseModelInfo) over the path and
query string evhttp_request.cc hands the handler. Rows name their upstream test case."""

from __future__ import annotations

import pytest

from serving.rest.routes import V1_PATH, Target, VersionOverflow, route
from serving.types import ModelSpec

UNSUPPORTED = "http_rest_api_handler_test.cc HttpRestApiHandlerTest.UnsupportedApiCalls"


def test_dispatcher_regex() -> None:
    """HttpRestApiHandlerTest.kPathRegex: `/v1/models` is handled; other paths are the server's 404."""
    assert V1_PATH.fullmatch("/v1/models")
    assert V1_PATH.fullmatch("/V1/anything?x=1")
    assert not V1_PATH.fullmatch("/v2/models")
    assert not V1_PATH.fullmatch("/monitoring/prometheus/metrics")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/foo"),  # UnsupportedApiCalls
        ("POST", "/v1/foo"),
        ("GET", "/v1/models/debug/model_name"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/foo:predict"),
        ("GET", "/v1/models/foo/version/50:predict"),
        ("POST", "/v1/models/foo/version/50:regress"),
        ("POST", "/v1/models/foo/versions/HELLO:regress"),
        ("POST", "/v1/models/foo/metadata"),
        ("POST", "/v1/models/foo/label/some_label:regress"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress"),
        ("POST", "/v1/models/foo/versions/some_label:regress"),
        ("POST", "/v1/models/foo:predict?x=1"),  # evhttp_request.cc: the query is part of uri_path()
        ("POST", "/v1/models/foo:PREDICT"),  # matched case-insensitively, dispatched on "predict" only
        ("GET", "/v1/models/foo/"),
        ("GET", "/v1/models/foo/metadata?x=1"),
        ("PUT", "/v1/models/foo"),
        ("POST", "/v1/models/foo/versions/-1:predict"),
        ("DELETE", "/v1/models/foo:predict"),
    ],
)
def test_malformed_requests(method: str, path: str) -> None:
    assert route(method, path).kind == "malformed", UNSUPPORTED


def test_version_beyond_int64_fails_to_convert() -> None:
    """UnsupportedApiCalls: `/v1/models/foo/versions/<uint64 max>:regress` -> Failed to convert version."""
    target = route("POST", f"/v1/models/foo/versions/{2**64 - 1}:regress")
    assert target.name == "foo"  # recorded as the request's model before the version fails
    with pytest.raises(
        VersionOverflow, match=r"^Failed to convert version: 18446744073709551615 to numeric\.$"
    ):
        target.spec()


@pytest.mark.parametrize(
    ("method", "path", "target"),
    [
        ("POST", "/v1/models/foo:predict", Target("predict", "foo", None, None, "predict")),
        ("POST", "/v1/models/foo/versions/50:predict", Target("predict", "foo", "50", None, "predict")),
        (
            "POST",
            "/v1/models/foo/labels/canary:classify",
            Target("classify", "foo", None, "canary", "classify"),
        ),
        ("POST", "/V1/MODELS/foo:regress", Target("regress", "foo", None, None, "regress")),
        ("POST", "/v1/models/a%20b/labels/c%2Fd:predict", Target("predict", "a b", None, "c/d", "predict")),
        ("POST", "/v1/models/foo:PREDICT", Target("malformed", "foo", None, None, "PREDICT")),
        ("GET", "/v1/models/foo", Target("status", "foo")),
        ("GET", "/v1/models/foo/versions/3", Target("status", "foo", "3")),
        ("GET", "/v1/models/foo/labels/stable/metadata", Target("metadata", "foo", None, "stable")),
        ("GET", "/v1/models/foo/METADATA", Target("status", "foo")),  # subresource compared as captured
        ("GET", "/v1/models", Target("status", "")),  # -> "Missing model name in request."
        ("GET", "/v1/models/foo?x=1", Target("status", "foo?x=1")),  # [^/:]+ takes the query along
        ("GET", "/v1/models/a%2Fb/labels/c%20d", Target("status", "a/b", None, "c d")),  # DecodeArg
    ],
)
def test_matched_requests(method: str, path: str, target: Target) -> None:
    assert route(method, path) == target


def test_spec_of_a_target() -> None:
    assert route("POST", "/v1/models/foo/versions/0007:predict").spec("sig") == ModelSpec(
        "foo", 7, None, "sig"
    )
