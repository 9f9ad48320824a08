"""JSON values quoted inside error messages, written exactly as TF Serving's `JsonValueToDebugString`.

Upstream (util/json_tensor.cc) walks the parsed rapidjson value into a `PrettyWriter` with
`kFormatSingleLineArray` behind a byte limit of 256 (`kMaxJsonDebugStringBytes`):

- objects open on their own lines, members indented by 4 spaces per level, `"key": value`, `,\\n` between
  members, the closing brace on its own line at the parent's indent; arrays stay on one line: `[1, 2]`;
- before each event (value, key, start/end of a container) the limit is checked: once the text holds 256
  bytes or more, writing stops there, without a marker (one value may run past the limit);
- numbers: integers as written, doubles as rapidjson's shortest `dtoa` (`1.0`, `0.001`, `1e-7`, `1e21`);
  NaN and +-Infinity cannot be written by the default writer, so the text stops right before them;
- strings escape only `"`, `\\` and control characters (`\\n`, `\\u001F`); other characters stay raw.

The walk is iterative, so a document nested a million levels deep costs only the 256 bytes it prints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

MAX_DEBUG_BYTES = 256

_INDENT = "    "
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_END = object()


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04X}"


def string_token(text: str) -> str:
    """A JSON string as rapidjson's Writer writes it (no validation, non-ASCII kept raw)."""
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


def double_token(value: float) -> str | None:
    """rapidjson's `Writer::Double` text (Grisu shortest digits + Prettify); None for NaN/Infinity."""
    if not math.isfinite(value):
        return None
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = int(exp_text or 0) - len(fraction)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        return sign + digits + "0" * k + ".0"
    if 0 < kk <= 21:
        return sign + digits[:kk] + "." + digits[kk:]
    if -6 < kk <= 0:
        return sign + "0." + "0" * -kk + digits
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


def _scalar_token(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return string_token(value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _UINT64_MAX:
            return str(value)
        return double_token(float(value))  # rapidjson holds larger integers as doubles
    return double_token(float(value))


class _LimitedPrettyWriter:
    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.levels: list[list[Any]] = []  # [in_array, value_count]

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text.encode("utf-8", "surrogatepass")) if not text.isascii() else len(text)

    def _prefix(self) -> None:
        if not self.levels:
            return
        level = self.levels[-1]
        count = level[1]
        if level[0]:
            if count:
                self._put(", ")
        else:
            if count:
                self._put(",\n" if count % 2 == 0 else ": ")
            else:
                self._put("\n")
            if count % 2 == 0:
                self._put(_INDENT * len(self.levels))
        level[1] = count + 1

    def event(self, kind: str, value: Any = None) -> bool:
        """One handler call; False stops the walk (limit reached or a value rapidjson cannot write)."""
        if self.size >= self.limit:
            return False
        if kind in ("{", "["):
            self._prefix()
            self._put(kind)
            self.levels.append([kind == "[", 0])
        elif kind in ("}", "]"):
            in_array, count = self.levels.pop()
            if count and not in_array:
                self._put("\n" + _INDENT * len(self.levels))
            self._put(kind)
        else:
            self._prefix()
            token = string_token(value) if kind == "key" else _scalar_token(value)
            if token is None:
                return False
            self._put(token)
        return True


def debug_string(value: Any, limit: int = MAX_DEBUG_BYTES) -> str:
    """JsonValueToDebugString of a parsed JSON value (see module docstring)."""
    writer = _LimitedPrettyWriter(limit)
    stack: list[tuple[Iterator[Any], str, bool]] = []

    def start(item: Any) -> bool:
        if type(item) is dict:
            stack.append((iter(item.items()), "}", True))
            return writer.event("{")
        if type(item) is list:
            stack.append((iter(item), "]", False))
            return writer.event("[")
        return writer.event("scalar", item)

    ok = start(value)
    while ok and stack:
        members, closer, is_object = stack[-1]
        member: Any = next(members, _END)
        if member is _END:
            stack.pop()
            ok = writer.event(closer)
        elif is_object:
            ok = writer.event("key", member[0]) and start(member[1])
        else:
            ok = start(member)
    return "".join(writer.parts)
