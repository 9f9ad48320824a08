"""Checks one live REST response against the OpenAPI document serving/rest/openapi.json.

The document's schemas are JSON Schema 2020-12 (OpenAPI 3.1), validated with `jsonschema` over a
`referencing` registry holding the document, so `$ref`s resolve as written. A response is found by its
path template, method and status (falling back to `default`); a path the document does not list
(anything else under /v1/ is `Malformed request`) must carry the error body. Bodies are parsed with the
kit's JSON reader, which accepts the NaN/Infinity tokens TF Serving writes.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[2] / "serving" / "rest" / "openapi.json"
_URI = "urn:tfkit:openapi"


@functools.cache
def document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text()))


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(
        _URI, Resource.from_contents(document(), default_specification=DRAFT202012)
    )


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in document()["paths"]:
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/:]+", pattern)
        out.append((re.compile(pattern), template))
    # literal suffixes (`/metadata`) must win over a bare {model_name} match
    return sorted(out, key=lambda item: -len(item[1]))


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_URI}#{pointer}"}, registry=_registry())


def _lookup(pointer: str) -> Any:
    node: Any = document()
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def response_pointer(method: str, path: str, status: int) -> str | None:
    """JSON pointer of the schema the response must match; None when the document gives none."""
    template = next((t for pattern, t in _templates() if pattern.fullmatch(path)), None)
    if template is None:
        return "/components/schemas/Error" if status != 200 else None
    operation = document()["paths"][template].get(method.lower())
    if operation is None:
        return "/components/schemas/Error" if status != 200 else None
    escaped = template.replace("~", "~0").replace("/", "~1")
    key = str(status) if str(status) in operation["responses"] else "default"
    pointer = f"/paths/{escaped}/{method.lower()}/responses/{key}"
    node = _lookup(pointer)
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#")
        node = _lookup(pointer)
    return f"{pointer}/content/application~1json/schema"


def problems(method: str, url: str, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with one response, by the document (empty: it conforms)."""
    from clients._json import loads

    path = urlsplit(url).path
    if not path.startswith("/v1/") or method == "OPTIONS":
        return []
    if status == 400 and body.strip() == b"":
        return []  # `Failed to convert version`: upstream answers 400 with an empty body
    if not content_type.startswith("application/json"):
        return [f"{method} {path}: Content-Type {content_type!r}, expected application/json"]
    pointer = response_pointer(method, path, status)
    if pointer is None:
        return []
    try:
        value = loads(body)
    except ValueError as err:
        return [f"{method} {path}: body is not JSON ({err}): {body[:200]!r}"]
    return [
        f"{method} {path} -> {status}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
        for e in _validator(pointer).iter_errors(value)
    ]
