"""What a kit model must tell the rest of the kit (the registry's one interface).

A model owns: how it trains (its `tfkit train <name>` command and its `make export` stages), its serving
module and signatures, its warmup requests and metrics, real sample rows, its feature layout and id range,
its conversion plan (TFLite / TF.js variants, the TFLite model each version serves) and the
preprocessing an app must do (the sidecar's part).
Its training output lives in `<artifacts>/train/<name>`.
"""

from __future__ import annotations

import argparse
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Log = Callable[[str], None]
Stage = tuple[str, Callable[[], str]]


class KitModel(ABC):
    """One kit model. Subclasses set the class attributes and implement the abstract methods."""

    name: str
    metric_keys: tuple[str, ...] = ()
    tflite_variants: tuple[str, ...] = ("float32",)
    tfjs_variants: tuple[str, ...] = ("float32",)
    # The TFLite variant written into each version as `model.tflite` (served under
    # --prefer_tflite_model=true, export/version_tflite.py); None: the version holds no TFLite model.
    served_tflite: str | None = "float32"
    id_inputs: tuple[str, ...] = ()  # serving_default inputs holding ids in 0 <= id < max_id
    max_id: int | None = None

    def train_dir(self, artifacts: Path) -> Path:
        return Path(artifacts) / "train" / self.name

    @abstractmethod
    def add_train_command(
        self, models: Any, artifacts_flag: Callable[[argparse.ArgumentParser], None]
    ) -> None:
        """Add `tfkit train <name>` to the `train` subparsers (its `run` returns an exit code)."""

    @abstractmethod
    def pipeline_stages(self, artifacts: Path, verbose: bool, log: Log) -> list[Stage]:
        """`make export` stages before the export (data, training); each returns a one-line summary."""

    @abstractmethod
    def serving_module(self, model_dir: Path) -> tuple[Any, dict[str, Any]]:
        """(tf.Module to save, signature key -> tf.function) from the trained checkpoints in model_dir."""

    @abstractmethod
    def warmup_logs(self, model_dir: Path, rows: int) -> list[Any]:
        """PredictionLog records for `assets.extra/tf_serving_warmup_requests` (one per signature)."""

    @abstractmethod
    def sample_inputs(self, artifacts: Path, n: int, seed: int) -> dict[str, np.ndarray]:
        """n real serving_default input rows (numpy arrays keyed by input name)."""

    def sample_examples(self, artifacts: Path, n: int, seed: int) -> list[bytes]:
        """n serialized tf.Examples for the Classify/Regress signatures."""
        raise NotImplementedError(f"model {self.name!r} has no tf.Example signatures")

    def sample_labels(self, artifacts: Path, n: int, seed: int) -> np.ndarray | None:
        """0/1 labels of `sample_inputs(artifacts, n, seed)` (int8's AUC gate), None when there are none."""
        return None

    def preprocessing(self, inputs: dict[str, tuple[int | None, ...]], target: str) -> dict[str, Any] | None:
        """What an app must do before calling the model (the sidecar's `preprocessing`), by input shapes."""
        return None

    def metrics(self, model_dir: Path) -> dict[str, Any]:
        """The training metrics the manifest records (`metric_keys` of `<model_dir>/metrics.json`)."""
        path = Path(model_dir) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run `tfkit train {self.name}` first")
        raw = json.loads(path.read_text())
        return {k: raw.get(k) for k in self.metric_keys}
