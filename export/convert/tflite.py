"""SavedModel signature -> .tflite in one variant (float32, dynamic, float16, int8)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.convert.int8 import input_layer_nodes, keep_input_layer_float
from export.convert.ops import UnsupportedOps, tflite_unsupported
from export.convert.rows import Rows

log = logging.getLogger(__name__)

FLEX_NOTICE = (
    "--allow-select-tf-ops: ops outside the TFLite builtins run through SELECT_TF_OPS; every app must then "
    "link the Flex runtime (Android: org.tensorflow:tensorflow-lite-select-tf-ops, "
    "iOS: TensorFlowLiteSelectTfOps)"
)


class ConversionError(RuntimeError):
    """The converter failed for another reason than unsupported ops."""


@dataclass(frozen=True)
class TfliteOutcome:
    flex_ops: tuple[str, ...] = ()  # TF ops that run through SELECT_TF_OPS (Flex)
    float_nodes: tuple[str, ...] = ()  # int8 only: input-layer ops left in float


def _representative(rows: Rows) -> Iterator[dict[str, Any]]:
    for i in range(rows.count):
        yield dict(rows.row(i))


@dataclass(frozen=True)
class _Job:
    saved_model_dir: Path
    signature: str
    variant: str
    calibration: Rows | None
    select_tf_ops: bool

    def converter(self) -> Any:
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(self.saved_model_dir), signature_keys=[self.signature]
        )
        int8 = self.variant == "int8"
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if int8 else tf.lite.OpsSet.TFLITE_BUILTINS
        converter.target_spec.supported_ops = (
            [builtins, tf.lite.OpsSet.SELECT_TF_OPS] if self.select_tf_ops else [builtins]
        )
        converter.allow_custom_ops = False
        if self.variant != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if int8:
            converter.representative_dataset = self.representative
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        return converter

    def representative(self) -> Iterator[dict[str, Any]]:
        if self.calibration is None:
            raise ConversionError("int8 needs calibration rows")
        return _representative(self.calibration)

    def convert(self) -> tuple[bytes, tuple[str, ...]]:
        try:
            with warnings.catch_warnings():
                # The int8 calibrator instantiates the deprecated tf.lite.Interpreter internally.
                warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated.*")
                flatbuffer = bytes(self.converter().convert())
                if self.variant != "int8" or self.select_tf_ops:
                    return flatbuffer, ()
                nodes = input_layer_nodes(flatbuffer)
                if not nodes:
                    return flatbuffer, ()
                try:
                    return keep_input_layer_float(self.converter, self.representative, nodes), tuple(nodes)
                except Exception as err:  # selective quantization is an accuracy aid, not a requirement
                    log.warning("int8: keeping %s float failed (%s); shipping full int8", nodes, err)
                    return flatbuffer, ()
        except ConversionError:
            raise
        except Exception as err:  # ConverterError and friends: classify, never fall back silently
            unsupported = tflite_unsupported(str(err))
            if unsupported is not None:
                raise unsupported from None
            raise ConversionError(
                f"TFLite {self.variant} conversion of {self.saved_model_dir} failed: {err}"
            ) from err


def convert_tflite(
    saved_model_dir: Path,
    signature: str,
    variant: str,
    out_path: Path,
    calibration: Rows | None,
    allow_select_tf_ops: bool,
) -> TfliteOutcome:
    """Write `out_path`. Builtins are always tried first; SELECT_TF_OPS only when allowed and needed.

    int8: int8 weights and activations with float32 I/O (integer inputs such as ids stay int64), the
    input layer kept float (see export.convert.int8)."""
    flex_ops: tuple[str, ...] = ()
    try:
        flatbuffer, float_nodes = _Job(saved_model_dir, signature, variant, calibration, False).convert()
    except UnsupportedOps as missing:
        if not allow_select_tf_ops:
            raise
        try:
            flatbuffer, float_nodes = _Job(saved_model_dir, signature, variant, calibration, True).convert()
        except UnsupportedOps as still_missing:
            still_missing.with_select_tf_ops = True
            raise
        flex_ops = missing.ops
        log.warning("%s. Flex ops in %s: %s", FLEX_NOTICE, out_path.name, ", ".join(flex_ops))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(flatbuffer)
    return TfliteOutcome(flex_ops=flex_ops, float_nodes=float_nodes)
