"""Unsupported-op detection: turn converter errors into one message naming the op(s) and the target."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SELECT_LINE = re.compile(r"TF Select ops:\s*([^\n]+)")
_CUSTOM_LINE = re.compile(r"Custom ops:\s*([^\n]+)")
_NEITHER = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_TFJS = re.compile(r"Unsupported Ops in the model (before|after) optimization\s*\n?(.*)", re.S)


@dataclass(eq=False)
class UnsupportedOps(Exception):
    """A target cannot run some ops of the signature; `flex_ops` would work with SELECT_TF_OPS."""

    target: str
    ops: tuple[str, ...]
    flex_ops: tuple[str, ...] = ()
    detail: str = ""
    with_select_tf_ops: bool = False

    def __str__(self) -> str:
        if self.target == "tflite" and self.with_select_tf_ops:
            return (
                f"TFLite does not support {', '.join(self.ops)} even with SELECT_TF_OPS "
                "(no builtin and no Flex kernel: it would need a custom op). "
                "Remove these ops from the signature and export again."
            )
        if self.target == "tflite":
            text = f"TFLite builtins do not support {', '.join(self.ops)}"
            if self.flex_ops:
                text += (
                    f" ({', '.join(self.flex_ops)} would run with --allow-select-tf-ops, "
                    "which makes every app link the Flex runtime (tensorflow-lite-select-tf-ops)"
                )
                rest = [op for op in self.ops if op not in self.flex_ops]
                text += f"; {', '.join(rest)} have no TFLite kernel at all)" if rest else ")"
            return (
                text + ". Remove these ops from the signature (do string work in the app) and export again."
            )
        return (
            f"TF.js does not support {', '.join(self.ops)}{self.detail}. Remove these ops from the signature "
            "(do string parsing in the app) and export again."
        )


def _split_ops(text: str) -> list[str]:
    return [op.strip() for op in text.split(",") if op.strip()]


def tflite_unsupported(message: str) -> UnsupportedOps | None:
    """Parse a TFLite ConverterError text; None when it is not about missing ops."""
    flex: list[str] = []
    custom: list[str] = []
    for match in _SELECT_LINE.finditer(message):
        flex += _split_ops(match.group(1))
    for match in _CUSTOM_LINE.finditer(message):
        custom += _split_ops(match.group(1))
    named = _NEITHER.findall(message)
    ops = tuple(dict.fromkeys([*flex, *custom, *named]))
    if not ops:
        return None
    return UnsupportedOps(target="tflite", ops=ops, flex_ops=tuple(dict.fromkeys(flex)))


def tfjs_unsupported(message: str) -> UnsupportedOps | None:
    """Parse the tensorflowjs 'Unsupported Ops in the model ...' ValueError text."""
    match = _TFJS.search(message)
    if match is None:
        return None
    ops = tuple(dict.fromkeys(_split_ops(match.group(2).strip().splitlines()[0] if match.group(2) else "")))
    return UnsupportedOps(
        target="tfjs", ops=ops or ("<unnamed>",), detail=f" ({match.group(1)} optimization)"
    )
