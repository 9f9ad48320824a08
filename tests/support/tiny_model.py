"""A third kit model that exists only for the tests: y = 12x + 30 (a regression whose outputs span tens).

It is a complete registry entry in one module, as a new model would be under export/models/: the tests
register it (monkeypatching the registry, or discovering a package that holds this module) and run the
whole `make export` pipeline over it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from export.models.base import KitModel, Log, Stage

SLOPE, OFFSET = 12.0, 30.0


class Tiny(KitModel):
    name = "tiny"
    metric_keys = ("slope",)
    tflite_variants = ("float32", "dynamic", "int8")
    tfjs_variants = ("float32",)

    def add_train_command(
        self, models: Any, artifacts_flag: Callable[[argparse.ArgumentParser], None]
    ) -> None:
        p = models.add_parser(self.name, help="the test-only regression y = 12x + 30")
        artifacts_flag(p)
        p.set_defaults(run=self._run)

    def _run(self, args: argparse.Namespace) -> int:
        print(self._train(self.train_dir(args.artifacts)))
        return 0

    def _train(self, model_dir: Path) -> str:
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "metrics.json").write_text(json.dumps({"slope": SLOPE, "offset": OFFSET}))
        return f"slope {SLOPE}"

    def pipeline_stages(self, artifacts: Path, verbose: bool, log: Log) -> list[Stage]:
        return [("train tiny", lambda: self._train(self.train_dir(artifacts)))]

    def serving_module(self, model_dir: Path) -> tuple[Any, dict[str, Any]]:
        import tensorflow as tf

        slope = float(json.loads((model_dir / "metrics.json").read_text())["slope"])

        class TinyServing(tf.Module):
            def __init__(self) -> None:
                super().__init__(name="tiny_serving")
                self.w = tf.Variable([[slope]], dtype=tf.float32)
                self.b = tf.Variable([OFFSET], dtype=tf.float32)

            @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
            def predict(self, x: Any) -> dict[str, Any]:
                return {"y": tf.matmul(x, self.w) + self.b}

        module = TinyServing()
        return module, {"serving_default": module.predict}

    def warmup_logs(self, model_dir: Path, rows: int) -> list[Any]:
        from export.warmup import predict_log

        return [predict_log(self.name, "serving_default", self.sample_inputs(Path(), rows, 1))]

    def sample_inputs(self, artifacts: Path, n: int, seed: int) -> dict[str, np.ndarray]:
        return {"x": np.random.default_rng(seed).normal(0.0, 1.0, (n, 1)).astype(np.float32)}


MODEL = Tiny()
