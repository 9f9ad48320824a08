"""Typed settings of `tfkit convert` and the parity gates (one object, built by the CLI, passed down)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TFLITE_VARIANTS: tuple[str, ...] = ("float32", "dynamic", "float16", "int8")
TFJS_VARIANTS: tuple[str, ...] = ("float32", "float16", "uint8")

# Max-|Δ| gates per (target, variant) versus the SavedModel (converters.md §2.3). Each output's error is
# divided by its scale, max(1, its range over the parity rows) (export/convert/parity.py): absolute for
# outputs in a unit range (probabilities), relative to the range for larger outputs (regressions).
# The CTR model keeps dynamic-range well inside 1e-3 by design (export/ctr_model.py): its embedding tables
# sit on the int8 grid and its dense layers read one bounded, standardized input group each.
DEFAULT_GATES: dict[tuple[str, str], float] = {
    ("tflite", "float32"): 1e-5,
    ("tflite", "dynamic"): 1e-3,
    ("tflite", "float16"): 1e-3,
    ("tflite", "int8"): 0.02,
    ("tfjs", "float32"): 1e-5,
    ("tfjs", "float16"): 1e-3,
    ("tfjs", "uint8"): 5e-3,
}
# int8 additionally gates the change of ROC AUC when labels are known (CTR rows).
INT8_AUC_GATE = 0.005
PARITY_ROWS = 256
PARITY_SEED = 20240611
CALIBRATION_ROWS = 1024  # 256 rows left outliers outside the calibrated ranges


class SettingsError(ValueError):
    """Invalid convert settings (bad variant list, bad gate spec, missing path)."""


@dataclass(frozen=True)
class ConvertSettings:
    """Everything one `tfkit convert` run needs."""

    saved_model_dir: Path
    output_dir: Path
    name: str
    signature: str = "serving_default"
    tflite_variants: tuple[str, ...] = TFLITE_VARIANTS
    tfjs_variants: tuple[str, ...] = TFJS_VARIANTS
    representative_data: Path | None = None
    allow_select_tf_ops: bool = False
    artifacts_dir: Path | None = None  # set for our models: real rows via the registry's sample_inputs
    kit_model: str | None = None  # the registry model that produced the SavedModel (None: foreign model)
    parity_rows: int = PARITY_ROWS
    parity_seed: int = PARITY_SEED
    gates: dict[tuple[str, str], float] = field(default_factory=lambda: dict(DEFAULT_GATES))
    auc_gate: float = INT8_AUC_GATE

    def gate(self, target: str, variant: str) -> float:
        return self.gates[(target, variant)]


def parse_variants(text: str, allowed: tuple[str, ...], target: str) -> tuple[str, ...]:
    """`"float32,int8"` -> ("float32", "int8"); `""`/`"none"` -> (); `"all"` -> every variant."""
    text = text.strip()
    if text in ("", "none"):
        return ()
    if text == "all":
        return allowed
    chosen = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise SettingsError(
            f"unknown {target} variant(s) {', '.join(unknown)}; choose from {', '.join(allowed)}, all or none"
        )
    return chosen


def parse_gate(text: str) -> tuple[tuple[str, str], float]:
    """`"tflite:int8=0.01"` -> (("tflite", "int8"), 0.01)."""
    key, sep, value = text.partition("=")
    target, colon, variant = key.partition(":")
    if not sep or not colon or (target, variant) not in DEFAULT_GATES:
        known = ", ".join(f"{t}:{v}" for t, v in DEFAULT_GATES)
        raise SettingsError(f"bad --gate {text!r}: expected TARGET:VARIANT=MAX_ABS_ERROR with one of {known}")
    try:
        bound = float(value)
    except ValueError:
        raise SettingsError(f"bad --gate {text!r}: {value!r} is not a number") from None
    return (target, variant), bound


def default_name(saved_model_dir: Path) -> str:
    """The model's name: the parent dir when the SavedModel sits in a numbered version dir."""
    resolved = saved_model_dir.resolve()
    return resolved.parent.name if resolved.name.isdigit() else resolved.name


def find_artifacts_dir(saved_model_dir: Path) -> Path | None:
    """DIR when the SavedModel is DIR/models/<name>/<version> of a kit artifacts tree (has manifest.json)."""
    resolved = saved_model_dir.resolve()
    if resolved.name.isdigit() and resolved.parent.parent.name == "models":
        root = resolved.parent.parent.parent
        if (root / "manifest.json").is_file():
            return root
    return None
