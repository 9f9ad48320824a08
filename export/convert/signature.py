"""What a SavedModel signature takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class SignatureError(ValueError):
    """The SavedModel or the chosen signature cannot be used."""


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: name, numpy dtype name, shape (None = any size)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": [-1 if d is None else d for d in self.shape]}


@dataclass(frozen=True)
class SignatureSpec:
    key: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def input(self, name: str) -> TensorInfo:
        return next(t for t in self.inputs if t.name == name)


@dataclass(frozen=True)
class LoadedSignature:
    """A loaded signature function (keeps the SavedModel object alive) and its spec."""

    spec: SignatureSpec
    function: Any
    owner: Any

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        result = self.function(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in result.items()}


def _tensor_info(name: str, spec: Any) -> TensorInfo:
    dims = tuple(None if d is None else int(d) for d in spec.shape.as_list()) if spec.shape.rank else ()
    dtype = "string" if spec.dtype.name == "string" else np.dtype(spec.dtype.as_numpy_dtype).name
    return TensorInfo(name=name, dtype=dtype, shape=dims)


def load_signature(saved_model_dir: Path, key: str) -> LoadedSignature:
    """Load `saved_model_dir` (tag serve) and return signature `key`; clear errors when either is missing."""
    import tensorflow as tf

    if not (saved_model_dir / "saved_model.pb").is_file():
        raise SignatureError(f"{saved_model_dir} is not a SavedModel directory (no saved_model.pb)")
    try:
        loaded = tf.saved_model.load(str(saved_model_dir), tags=["serve"])
    except (OSError, RuntimeError, ValueError) as err:
        raise SignatureError(f"cannot load SavedModel {saved_model_dir}: {err}") from err
    if key not in loaded.signatures:
        available = ", ".join(sorted(loaded.signatures)) or "none"
        raise SignatureError(f"SavedModel {saved_model_dir} has no signature {key!r}; available: {available}")
    fn = loaded.signatures[key]
    _, kwargs = fn.structured_input_signature
    inputs = tuple(_tensor_info(name, kwargs[name]) for name in sorted(kwargs))
    outputs_struct = fn.structured_outputs
    if not isinstance(outputs_struct, dict):
        raise SignatureError(
            f"signature {key!r} of {saved_model_dir} does not return a dict of named outputs"
        )
    outputs = tuple(_tensor_info(name, outputs_struct[name]) for name in sorted(outputs_struct))
    return LoadedSignature(
        spec=SignatureSpec(key=key, inputs=inputs, outputs=outputs), function=fn, owner=loaded
    )
