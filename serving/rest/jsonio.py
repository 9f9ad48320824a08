"""TF Serving's JSON dialect: tolerant parsing, and tensor values and documents written as JSON text.

Parsing follows rapidjson as tensorflow_model_server configures it: the tokens `NaN`, `Inf`, `Infinity`,
`-Inf` and `-Infinity` are numbers, bytes after the top-level value are ignored, any nesting depth parses,
and errors read `JSON Parse error: <rapidjson text> at offset: <n>`. orjson parses the common case; a body
it rejects (non-finite tokens, trailing bytes, or a real syntax error) goes through Python's `json` with
the extra tokens rewritten, which also yields the rapidjson wording of real syntax errors; a body nested
deeper than orjson allows is built from ijson's event stream.

Writing follows `json_tensor.cc`: float/double as `%g` (6 digits) when that round-trips, else 9 / 17
significant digits, with `.0` appended to plain integers-looking text; NaN/Infinity as bare tokens;
strings as raw bytes (or `{"b64": ...}` for aliases ending in `_bytes`); documents laid out as its
rapidjson PrettyWriter does. Values are formatted with vectorised numpy work plus one C-level `map` per
tensor, never a Python loop per nesting level.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import ijson
import numpy as np
import orjson

from serving.rest.debugtext import string_token
from serving.status import InvalidArgument

# rapidjson parses iteratively (any depth); orjson and Python's json stop near 1024 levels, so a deeper
# document is built from ijson's (yajl, C) event stream with an explicit stack instead.
MAX_JSON_DEPTH = 1024

_INF = float("inf")
_INDENT = "    "  # PrettyWriter's default indent
_MAX_SCAN_CHARS = 1 << 20
_SMALL = 16  # below this many values, per-value Python beats numpy's per-call overhead
_INF_TOKENS = re.compile(r'("(?:[^"\\]|\\.)*")|(Inf(?:inity)?)')
_PY_TO_RAPIDJSON = (
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid control character", "Invalid encoding in string."),
)


def parse_error(text: str, offset: int) -> InvalidArgument:
    return InvalidArgument(f"JSON Parse error: {text} at offset: {offset}")


def _depth_error(offset: int) -> InvalidArgument:
    return parse_error(f"Document nested too deeply (limit {MAX_JSON_DEPTH} levels).", offset)


def _container_at(text: str, pos: int) -> str:
    """'{' or '[' for the innermost container open at `pos` (to word a missing-comma error)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else "{"


def _rapidjson_message(err: json.JSONDecodeError, text: str) -> str:
    if err.msg.startswith("Expecting ',' delimiter"):
        # Scanning is linear Python work: only done for bodies small enough to keep errors cheap.
        if err.pos <= _MAX_SCAN_CHARS and _container_at(text, err.pos) == "[":
            return "Missing a comma or ']' after an array element."
        return "Missing a comma or '}' after an object member."
    for prefix, message in _PY_TO_RAPIDJSON:
        if err.msg.startswith(prefix):
            return message
    return "Invalid value."


def _slow_parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise parse_error("Invalid encoding in string.", err.start) from None
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise parse_error("The document is empty.", start)
    if "Inf" in text:
        text = _INF_TOKENS.sub(lambda m: m.group(1) or "Infinity", text)
    try:
        value, _end = json.JSONDecoder().raw_decode(text, start)  # trailing bytes ignored, as upstream
    except json.JSONDecodeError as err:
        raise parse_error(_rapidjson_message(err, text), err.pos) from None
    except RecursionError:
        raise _depth_error(0) from None
    return value


def _deep_parse(body: bytes, pos: int) -> Any:
    """A document nested deeper than MAX_JSON_DEPTH, built without recursion; bytes after the first
    value are ignored. yajl knows neither NaN/Infinity nor integers beyond 64 bits: such a deep
    document (or a malformed one) gets the depth error."""
    stack: list[Any] = []
    keys: list[Any] = []
    try:
        for event, value in ijson.basic_parse(body, use_float=True):
            if event == "map_key":
                keys[-1] = value
                continue
            if event in ("end_map", "end_array"):
                done = stack.pop()
                keys.pop()
                if not stack:
                    return done
                continue
            if event in ("start_map", "start_array"):
                value = {} if event == "start_map" else []
            if stack:
                parent = stack[-1]
                if type(parent) is list:
                    parent.append(value)
                else:
                    parent[keys[-1]] = value
            if event in ("start_map", "start_array"):
                stack.append(value)
                keys.append(None)
            elif not stack:
                return value
    except ijson.JSONError:
        pass
    raise _depth_error(pos)


def parse_json(body: bytes) -> Any:
    """Parse a request body the way TF Serving's rapidjson setup does (see module docstring)."""
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        if "depth limit" in err.msg:
            return _deep_parse(body, err.pos)
        if "infinity when parsed as double" in err.msg:
            raise parse_error("Number too big to be stored in double.", err.pos) from None
    return _slow_parse(body)


def json_type_name(value: Any) -> str:
    """rapidjson's type name of a parsed value, as used in `Type: <name>` errors."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def is_b64_object(value: Any) -> bool:
    """`{"b64": "<string>"}` with exactly that one key."""
    return type(value) is dict and len(value) == 1 and type(value.get("b64")) is str


def _plain(text: str) -> str:
    return text if ("." in text or "e" in text) else text + ".0"


def _non_finite(value: float) -> str:
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _small_float_texts(values: list[float], is_float32: bool) -> list[str]:
    """float_texts for a handful of values: plain Python (numpy call overhead would dominate)."""
    out: list[str] = []
    for v in values:
        if v != v or v in (_INF, -_INF):
            out.append(_non_finite(v))
            continue
        text = f"{v:.6g}"
        if (np.float32(text) != np.float32(v)) if is_float32 else (float(text) != v):
            text = format(v, ".9g" if is_float32 else ".17g")
        out.append(_plain(text))
    return out


def float_texts(flat: np.ndarray) -> list[str]:
    """Texts of a 1-D float32/float64 array: `%g`, else max_digits10 digits, `.0` when integral-looking."""
    is_float32 = flat.dtype == np.float32
    values = flat.tolist()
    if len(values) <= _SMALL:
        return _small_float_texts(values, is_float32)
    texts = list(map("%.6g".__mod__, values))
    finite = np.isfinite(flat)
    with np.errstate(over="ignore", invalid="ignore"):
        round_trip = np.array(texts, dtype=flat.dtype)
    long_format = "%.9g" if is_float32 else "%.17g"
    for i in np.flatnonzero((round_trip != flat) & finite).tolist():
        texts[i] = long_format % values[i]
    texts = list(map(_plain, texts))
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            texts[i] = _non_finite(values[i])
    return texts


def string_text(value: bytes) -> str:
    """A JSON string holding the raw bytes (not validated as UTF-8, as upstream), escaped as rapidjson
    escapes (`\\u001F`: upper-case hex where orjson writes lower case)."""
    try:
        text = orjson.dumps(value.decode("utf-8")).decode("utf-8")
    except (UnicodeDecodeError, orjson.JSONEncodeError):
        return string_token(value.decode("utf-8", "surrogateescape"))
    return text if "\\u00" not in text else string_token(value.decode("utf-8"))


def b64_text(value: bytes, level: int) -> str:
    """`{"b64": ...}` as rapidjson's PrettyWriter writes an object opened inside `level` containers."""
    encoded = base64.b64encode(value).decode("ascii")
    return "{\n" + _INDENT * (level + 1) + '"b64": "' + encoded + '"\n' + _INDENT * level + "}"


def _array(items: list[str], level: int, multiline: bool) -> str:
    if not items:
        return "[]"
    if not multiline:
        return "[" + ", ".join(items) + "]"
    inner = "\n" + _INDENT * (level + 1)
    return "[" + inner + ("," + inner).join(items) + "\n" + _INDENT * level + "]"


def layout(texts: Sequence[str], dims: Sequence[int], count: int, level: int, multiline: bool) -> list[str]:
    """Group flat element texts (C order) into `count` nested arrays of shape `dims`, bottom-up, laid out
    as rapidjson's PrettyWriter does for values written inside `level` open containers: one line with
    `, ` (kFormatSingleLineArray, row format) or one element per line indented 4 spaces per level.

    With `dims == shape[1:]` and `count == shape[0]` that is one text per row; with `dims == shape` and
    `count == 1` the single item is the whole tensor.
    """
    items: list[str] = list(texts)
    for depth in reversed(range(len(dims))):
        d = dims[depth]
        if d == 0:
            arrays = count * math.prod(dims[:depth])
            items = ["[]"] * arrays
        else:
            items = [_array(items[j : j + d], level + depth, multiline) for j in range(0, len(items), d)]
    return items


def pretty_object(members: list[tuple[str, str]], level: int) -> str:
    """An object of already written values, opened inside `level` containers (PrettyWriter layout)."""
    if not members:
        return "{}"
    inner = "\n" + _INDENT * (level + 1)
    body = ",".join(inner + string_token(key) + ": " + value for key, value in members)
    return "{" + body + "\n" + _INDENT * level + "}"


def document(key: str, value: str) -> str:
    """`{"<key>": <value>}` as TF Serving's PrettyWriter writes its one-member response documents."""
    return "{\n" + _INDENT + string_token(key) + ": " + value + "\n}"


def encode_body(text: str) -> bytes:
    """UTF-8 body; raw (non-UTF-8) string bytes smuggled as surrogates go back out unchanged."""
    return text.encode("utf-8", "surrogateescape")


def error_body(message: str) -> bytes:
    """`{"error": "<message>"}` as MakeJsonFromStatus writes it (PrettyWriter, rapidjson escapes)."""
    return document("error", string_token(message)).encode("utf-8", "surrogatepass")
